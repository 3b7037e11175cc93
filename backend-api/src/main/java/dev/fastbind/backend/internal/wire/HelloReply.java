package dev.fastbind.backend.internal.wire;

import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.ControlHandler;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What a daemon's control endpoint answers to {@code HELLO}: who it is and how far warm-up got.
 *
 * <p>The bootstrap builds one per request in {@link ControlHandler#hello()}; the broker gets one
 * back from {@link ControlClient#hello}. On the wire it is the fields {@code protocol},
 * {@code service}, {@code version}, {@code pid}, {@code instance-id}, {@code state},
 * {@code progress} and, when reported, {@code phase} (see {@link #toFields()}). Readers ignore
 * unknown keys, so fields can be added without a new protocol version.
 *
 * @param service the service name
 * @param version the daemon's version, as in its lockfile
 * @param pid the daemon's process id, positive
 * @param instanceId the random instance id, as in its lockfile
 * @param state {@code WARMING} until the backend calls {@code ready()}, {@code READY} after
 * @param progressPercent the last reported warm-up progress, 0..100 (0 when nothing was reported)
 * @param phase the last reported warm-up phase, if any
 * @param compatibility the daemon's compatibility key in canonical form ({@link Compatibility}), empty
 *     when the broker that started it gave none
 */
public record HelloReply(
    String service,
    String version,
    long pid,
    String instanceId,
    DaemonState state,
    int progressPercent,
    Optional<String> phase,
    String compatibility) {

  /** A reply without a compatibility key. */
  public HelloReply(String service, String version, long pid, String instanceId, DaemonState state,
      int progressPercent, Optional<String> phase) {
    this(service, version, pid, instanceId, state, progressPercent, phase, "");
  }

  /** The control protocol version this code speaks; sent as {@code protocol} in every HELLO. */
  public static final int PROTOCOL_VERSION = 1;

  /** Validates: no nulls, pid positive, progress within 0..100. */
  public HelloReply {
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(version, "version");
    Objects.requireNonNull(instanceId, "instanceId");
    Objects.requireNonNull(state, "state");
    Objects.requireNonNull(phase, "phase");
    Objects.requireNonNull(compatibility, "compatibility");
    if (pid <= 0) {
      throw new IllegalArgumentException("pid must be positive, got " + pid);
    }
    if (progressPercent < 0 || progressPercent > 100) {
      throw new IllegalArgumentException("progressPercent must be within 0..100, got " + progressPercent);
    }
  }

  /** This snapshot as reply fields, in wire order. */
  public Map<String, String> toFields() {
    LinkedHashMap<String, String> f = new LinkedHashMap<>();
    f.put("protocol", Integer.toString(PROTOCOL_VERSION));
    f.put("service", service);
    f.put("version", version);
    f.put("pid", Long.toString(pid));
    f.put("instance-id", instanceId);
    f.put("state", state.name());
    f.put("progress", Integer.toString(progressPercent));
    phase.ifPresent(p -> f.put("phase", p));
    if (!compatibility.isEmpty()) {
      f.put("compatibility", compatibility);
    }
    return f;
  }

  /**
   * Reads a snapshot back from reply fields; unknown keys are ignored.
   *
   * @throws ControlProtocolException if a field is missing or invalid, or the protocol version is
   *     not {@value #PROTOCOL_VERSION}
   */
  public static HelloReply fromFields(Map<String, String> fields) throws ControlProtocolException {
    Objects.requireNonNull(fields, "fields");
    String protocol = required(fields, "protocol");
    if (!protocol.equals(Integer.toString(PROTOCOL_VERSION))) {
      throw new ControlProtocolException("the daemon speaks control protocol " + Escaping.printable(protocol)
          + "; this code speaks " + PROTOCOL_VERSION);
    }
    String stateText = required(fields, "state");
    DaemonState state;
    try {
      state = DaemonState.valueOf(stateText);
    } catch (IllegalArgumentException e) {
      throw new ControlProtocolException("unknown daemon state '" + Escaping.printable(stateText) + "'", e);
    }
    try {
      return new HelloReply(
          required(fields, "service"),
          required(fields, "version"),
          Long.parseLong(required(fields, "pid")),
          required(fields, "instance-id"),
          state,
          Integer.parseInt(required(fields, "progress")),
          Optional.ofNullable(fields.get("phase")),
          fields.getOrDefault("compatibility", ""));
    } catch (IllegalArgumentException e) {
      throw new ControlProtocolException("invalid HELLO field: " + e.getMessage(), e);
    }
  }

  private static String required(Map<String, String> fields, String key) throws ControlProtocolException {
    String v = fields.get(key);
    if (v == null) {
      throw new ControlProtocolException("HELLO reply lacks the '" + key + "' field; got " + fields.keySet());
    }
    return v;
  }
}
