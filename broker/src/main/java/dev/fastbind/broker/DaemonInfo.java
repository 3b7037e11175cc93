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
 * @param elapsed how long the call took
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
    Duration elapsed) {

  /** Validates the components. */
  public DaemonInfo {
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(endpoint, "endpoint");
    Objects.requireNonNull(controlEndpoint, "controlEndpoint");
    Objects.requireNonNull(instanceId, "instanceId");
    Objects.requireNonNull(version, "version");
    Objects.requireNonNull(spawnReason, "spawnReason");
    Objects.requireNonNull(spawnDetail, "spawnDetail");
    Objects.requireNonNull(elapsed, "elapsed");
    if (pid <= 0) {
      throw new IllegalArgumentException("pid must be positive, got " + pid);
    }
  }

  /** Whether this call spawned the daemon (as opposed to reusing a running one). */
  public boolean spawned() {
    return spawnReason.isPresent();
  }
}
