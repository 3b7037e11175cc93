package dev.fastbind.backend.internal.wire;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Optional;

/**
 * The death record's format: what one daemon's end left in the runtime directory, written by the
 * daemon's bootstrap for the ends it sees and by a broker for the ones it can only observe (see
 * docs/wire.md). Small UTF-8 text: a first line {@code fastbind-death 1}, then one
 * {@code key=value} line per field, values escaped with {@link Escaping} (so the log tail's newlines
 * are {@code %0A}); unknown keys are ignored, so a later minor addition is read by this version. The
 * whole record is at most {@value #MAX_BYTES} bytes: the log tail is cut to fit.
 */
public final class DeathRecordCodec {
  private DeathRecordCodec() {}

  /** The format version this code writes and reads. */
  public static final int FORMAT_VERSION = 1;
  /** The largest record written or read. */
  public static final int MAX_BYTES = 16 * 1024;
  /** The most log-tail characters a record keeps (fewer when the other fields are long). */
  public static final int MAX_TAIL_CHARS = 4096;

  private static final String MAGIC = "fastbind-death ";

  /** How a daemon ended. */
  public enum Cause {
    /** A control {@code SHUTDOWN} (a broker's stop or replace). */
    SHUTDOWN_REQUEST,
    /** The idle timeout passed with nothing busy. */
    IDLE_TIMEOUT,
    /** The backend called {@code ServeContext.requestShutdown(reason)}. */
    REQUESTED,
    /** The JVM was asked to exit from outside the SDK: SIGTERM (or SIGINT, SIGHUP, or System.exit in the backend). */
    SIGTERM,
    /** Its listener was handed over to a successor. */
    HANDED_OVER,
    /** {@code serve} returned, which it must never do. */
    SERVE_RETURNED,
    /** {@code serve} threw. */
    SERVE_THREW,
    /** The bootstrap failed before serving, with the exit status in the record. */
    STARTUP_FAILED,
    /** Observed by a broker: the process is gone and left no record (a kill, a crash, an OOM kill). */
    VANISHED,
    /** A private worker whose owner closed its pipe or died ({@code Env.OWNER}). */
    OWNER_GONE
  }

  /**
   * One record.
   *
   * @param service the service name
   * @param pid the daemon's pid
   * @param instanceId its instance id, or "" when it ended before it had one
   * @param cause how it ended
   * @param detail a one-line explanation (the reason, the exception, the signal)
   * @param exitStatus the exit status, or -1 when unknown
   * @param endedAtMillis when it ended (for an observed end: when the broker noticed it)
   * @param uptimeMillis how long it ran, or -1 when unknown
   * @param outOfMemory whether there is evidence of an OutOfMemoryError (in the log tail or an hs_err file)
   * @param hsErr the path of the JVM's fatal-error log, if one was found
   * @param recordedBy {@code daemon} or {@code broker}
   * @param logTail the last lines of the daemon's log
   */
  public record Entry(String service, long pid, String instanceId, Cause cause, String detail, int exitStatus,
      long endedAtMillis, long uptimeMillis, boolean outOfMemory, Optional<String> hsErr, String recordedBy,
      String logTail) {
    /** Checks for nulls. */
    public Entry {
      Objects.requireNonNull(service, "service");
      Objects.requireNonNull(instanceId, "instanceId");
      Objects.requireNonNull(cause, "cause");
      Objects.requireNonNull(detail, "detail");
      Objects.requireNonNull(hsErr, "hsErr");
      Objects.requireNonNull(recordedBy, "recordedBy");
      Objects.requireNonNull(logTail, "logTail");
    }
  }

  /** {@code e} encoded, within {@link #MAX_BYTES} (the detail and the log tail are cut as needed). */
  public static byte[] encode(Entry e) {
    String detail = cut(e.detail(), 1024, false);
    String tail = cut(e.logTail(), MAX_TAIL_CHARS, true);
    while (true) {
      StringBuilder b = new StringBuilder(256 + tail.length());
      b.append(MAGIC).append(FORMAT_VERSION).append('\n');
      field(b, "service", e.service());
      field(b, "pid", Long.toString(e.pid()));
      field(b, "instance-id", e.instanceId());
      field(b, "cause", e.cause().name());
      field(b, "detail", detail);
      field(b, "exit-status", Integer.toString(e.exitStatus()));
      field(b, "ended-at", Long.toString(e.endedAtMillis()));
      field(b, "ended-at-utc", LockfileCodec.utcSeconds(e.endedAtMillis()));
      field(b, "uptime-ms", Long.toString(e.uptimeMillis()));
      field(b, "out-of-memory", Boolean.toString(e.outOfMemory()));
      field(b, "hs-err", e.hsErr().orElse(""));
      field(b, "recorded-by", e.recordedBy());
      field(b, "log-tail", tail);
      byte[] bytes = b.toString().getBytes(StandardCharsets.UTF_8);
      if (bytes.length <= MAX_BYTES || tail.isEmpty()) {
        return bytes;
      }
      tail = tail.substring(tail.length() / 2);
    }
  }

  /**
   * Decodes a record.
   *
   * @throws IllegalArgumentException naming what is wrong: not a death record, a newer format, a
   *     missing or malformed field
   */
  public static Entry decode(byte[] bytes) {
    if (bytes.length > MAX_BYTES) {
      throw new IllegalArgumentException("a death record is at most " + MAX_BYTES + " bytes, this one has "
          + bytes.length);
    }
    String text = new String(bytes, StandardCharsets.UTF_8);
    if (!text.startsWith(MAGIC)) {
      throw new IllegalArgumentException("not a death record (it does not start with '" + MAGIC.trim() + "')");
    }
    String[] lines = text.split("\n", -1);
    int version;
    try {
      version = Integer.parseInt(lines[0].substring(MAGIC.length()).trim());
    } catch (NumberFormatException ex) {
      throw new IllegalArgumentException("bad death record version line '" + Escaping.printable(lines[0]) + "'");
    }
    if (version > FORMAT_VERSION) {
      throw new IllegalArgumentException("death record format " + version + " is newer than this code reads ("
          + FORMAT_VERSION + ")");
    }
    java.util.Map<String, String> f = new java.util.HashMap<>();
    for (int i = 1; i < lines.length; i++) {
      String line = lines[i];
      int eq = line.indexOf('=');
      if (eq > 0) {
        f.put(line.substring(0, eq), Escaping.unescape(line.substring(eq + 1)));
      }
    }
    Cause cause;
    try {
      cause = Cause.valueOf(required(f, "cause"));
    } catch (IllegalArgumentException ex) {
      cause = Cause.VANISHED; // a cause a later version added: the process is gone, at least
    }
    String hsErr = f.getOrDefault("hs-err", "");
    return new Entry(required(f, "service"), number(f, "pid"), f.getOrDefault("instance-id", ""), cause,
        f.getOrDefault("detail", ""), (int) number(f, "exit-status"), number(f, "ended-at"), number(f, "uptime-ms"),
        "true".equals(f.get("out-of-memory")), hsErr.isEmpty() ? Optional.empty() : Optional.of(hsErr),
        f.getOrDefault("recorded-by", ""), f.getOrDefault("log-tail", ""));
  }

  private static String required(java.util.Map<String, String> f, String key) {
    String v = f.get(key);
    if (v == null) {
      throw new IllegalArgumentException("the death record has no '" + key + "' field");
    }
    return v;
  }

  private static long number(java.util.Map<String, String> f, String key) {
    String v = required(f, key);
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException ex) {
      throw new IllegalArgumentException("the death record's '" + key + "' is not a number: '"
          + Escaping.printable(v) + "'");
    }
  }

  /** At most {@code max} characters of {@code s}: its start, or with {@code keepEnd} its end. */
  private static String cut(String s, int max, boolean keepEnd) {
    if (s.length() <= max) {
      return s;
    }
    return keepEnd ? s.substring(s.length() - max) : s.substring(0, max);
  }

  private static void field(StringBuilder b, String key, String value) {
    b.append(key).append('=').append(Escaping.escape(value, "")).append('\n');
  }
}
