package dev.fastbind.broker;

import dev.fastbind.backend.internal.wire.Compatibility;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One daemon slot that {@link Broker#list(Path)} found in a runtime directory: a service's lockfile
 * ({@code s.lock}, or {@code s~<id>.lock} for a daemon running beside the service's first one with
 * another compatibility key), what the broker's checks make of it, and what the kernel says about
 * its process. An operator's view, so every value is what was verified at the time of the call, not
 * what the lockfile claims: {@link #uptime()} and {@link #residentBytes()} are present only for a
 * process confirmed to be the recorded daemon ({@link ServiceStatus.Running} or
 * {@link ServiceStatus.Unresponsive}).
 *
 * @param service the service name (without the compatibility id)
 * @param compatibilityId for a side-by-side daemon, the id in its file names ({@code s~<id>.*});
 *     empty for the service's first daemon
 * @param lockfile the lockfile this slot was found by
 * @param log the daemon's log ({@code s.log} or {@code s~<id>.log}); it may not exist
 * @param status what {@link Broker#status} reports for this slot
 * @param compatibilityKey the compatibility key the lockfile records, canonical
 *     ({@code name=value} lines); empty when none was recorded or the lockfile is unreadable
 * @param version the daemon version the lockfile records, when it recorded one
 * @param uptime how long the verified process has run
 * @param residentBytes the verified process's resident memory ({@code VmRSS} in
 *     {@code /proc/<pid>/status}), when the platform reports it
 */
public record ListedDaemon(
    String service,
    Optional<String> compatibilityId,
    Path lockfile,
    Path log,
    ServiceStatus status,
    String compatibilityKey,
    Optional<String> version,
    Optional<Duration> uptime,
    OptionalLong residentBytes) {

  /**
   * Validates the components.
   *
   * @param service the service name
   * @param compatibilityId the side-by-side id, or empty
   * @param lockfile the lockfile
   * @param log the log path
   * @param status the status
   * @param compatibilityKey the recorded key, or ""
   * @param version the recorded version, or empty
   * @param uptime the verified process's uptime, or empty
   * @param residentBytes the verified process's resident memory, or empty
   * @throws NullPointerException if a component is null
   */
  public ListedDaemon {
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(compatibilityId, "compatibilityId");
    Objects.requireNonNull(lockfile, "lockfile");
    Objects.requireNonNull(log, "log");
    Objects.requireNonNull(status, "status");
    Objects.requireNonNull(compatibilityKey, "compatibilityKey");
    Objects.requireNonNull(version, "version");
    Objects.requireNonNull(uptime, "uptime");
    Objects.requireNonNull(residentBytes, "residentBytes");
  }

  /**
   * The process id, when the status names one.
   *
   * @return the pid of a {@link ServiceStatus.Running} or {@link ServiceStatus.Unresponsive} daemon
   */
  public OptionalLong pid() {
    if (status instanceof ServiceStatus.Running r) {
      return OptionalLong.of(r.daemon().pid());
    }
    if (status instanceof ServiceStatus.Unresponsive u) {
      return OptionalLong.of(u.pid());
    }
    return OptionalLong.empty();
  }

  /**
   * A short id of {@link #compatibilityKey()}: the one a daemon with this key has in its file names
   * when it runs beside another ({@code s~<id>.*}), so two listed daemons have the same id exactly
   * when their recorded keys are equal.
   *
   * @return 16 hex digits; empty when no key was recorded
   */
  public Optional<String> compatibilityKeyId() {
    return compatibilityKey.isEmpty() ? Optional.empty() : Optional.of(Compatibility.id(compatibilityKey));
  }

  /**
   * The name the slot's files start with: the service name, or {@code service~id} beside it.
   *
   * @return {@code service} or {@code service + "~" + id}
   */
  public String slot() {
    return compatibilityId.isPresent() ? service + "~" + compatibilityId.get() : service;
  }
}
