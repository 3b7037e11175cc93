package dev.fastbind.broker;

import dev.fastbind.backend.Endpoint;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * The daemon {@link Broker#ensureRunning} found or started: where to connect, who it is, and whether
 * this call spawned it and why.
 *
 * @param service the service name
 * @param endpoint the daemon's main endpoint; connect here
 * @param controlEndpoint the SDK's control endpoint ({@code HELLO}, {@code STATUS}, {@code SHUTDOWN})
 * @param pid the daemon's process id
 * @param instanceId the random id of this daemon instance, as in its lockfile
 * @param version the daemon's version, empty when it did not record one
 * @param spawnReason why this call spawned the daemon; empty when an existing daemon was reused
 * @param spawnDetail the human-readable detail of the spawn reason, empty when none
 * @param elapsed how long the call took, from its start to this value, waiting for the spawn lock
 *     included
 * @param stage how far the daemon had come when the call returned: {@link Stage#BOUND} or {@link Stage#SERVING}
 */
public record DaemonInfo(
    String service,
    Endpoint endpoint,
    Endpoint controlEndpoint,
    long pid,
    String instanceId,
    Optional<String> version,
    Optional<SpawnReason> spawnReason,
    String spawnDetail,
    Duration elapsed,
    Stage stage) {

  /** How far the daemon had come when {@link Broker#ensureRunning} returned. */
  public enum Stage {
    /**
     * The broker bound the endpoint and handed it to the daemon's process, which runs; it has not yet
     * announced that it serves. Connections wait in the socket's backlog until it accepts them, and
     * if it dies first they are reset ({@link Broker#awaitServing} says why).
     */
    BOUND,
    /**
     * The daemon announced that it serves: it holds the endpoint, wrote its lockfile and called
     * {@code serve}. It may still be warming up; {@code HELLO} tells {@code WARMING} from {@code READY}.
     */
    SERVING
  }

  /**
   * A daemon that serves ({@link Stage#SERVING}).
   *
   * @param service the service name
   * @param endpoint the daemon's main endpoint
   * @param controlEndpoint the SDK's control endpoint
   * @param pid the daemon's process id; must be positive
   * @param instanceId the random id of this daemon instance
   * @param version the daemon's version, or empty
   * @param spawnReason why this call spawned the daemon, or empty
   * @param spawnDetail the detail of the spawn reason; empty, not null, when there is none
   * @param elapsed how long the call took
   */
  public DaemonInfo(String service, Endpoint endpoint, Endpoint controlEndpoint, long pid, String instanceId,
      Optional<String> version, Optional<SpawnReason> spawnReason, String spawnDetail, Duration elapsed) {
    this(service, endpoint, controlEndpoint, pid, instanceId, version, spawnReason, spawnDetail, elapsed,
        Stage.SERVING);
  }

  /**
   * Validates the components.
   *
   * @param service the service name
   * @param endpoint the daemon's main endpoint
   * @param controlEndpoint the SDK's control endpoint
   * @param pid the daemon's process id; must be positive
   * @param instanceId the random id of this daemon instance
   * @param version the daemon's version, or empty
   * @param spawnReason why this call spawned the daemon, or empty
   * @param spawnDetail the detail of the spawn reason; empty, not null, when there is none
   * @param elapsed how long the call took
   * @param stage how far the daemon had come
   * @throws NullPointerException if any component but {@code pid} is null
   * @throws IllegalArgumentException if {@code pid} is not positive
   */
  public DaemonInfo {
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(endpoint, "endpoint");
    Objects.requireNonNull(controlEndpoint, "controlEndpoint");
    Objects.requireNonNull(instanceId, "instanceId");
    Objects.requireNonNull(version, "version");
    Objects.requireNonNull(spawnReason, "spawnReason");
    Objects.requireNonNull(spawnDetail, "spawnDetail");
    Objects.requireNonNull(elapsed, "elapsed");
    Objects.requireNonNull(stage, "stage");
    if (pid <= 0) {
      throw new IllegalArgumentException("pid must be positive, got " + pid);
    }
  }

  /**
   * Whether this call spawned the daemon (as opposed to reusing a running one).
   *
   * @return true exactly when {@link #spawnReason()} is present
   */
  public boolean spawned() {
    return spawnReason.isPresent();
  }

  /**
   * This value with {@code elapsed} replaced: what a later call reports about the same daemon.
   *
   * @param elapsed how long the later call took
   * @return a copy with the new elapsed time
   */
  public DaemonInfo withElapsed(Duration elapsed) {
    return new DaemonInfo(service, endpoint, controlEndpoint, pid, instanceId, version, spawnReason, spawnDetail,
        elapsed, stage);
  }
}
