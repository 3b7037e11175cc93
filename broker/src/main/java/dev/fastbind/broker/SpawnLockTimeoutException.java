package dev.fastbind.broker;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * Another launcher held the service's spawn lock for longer than the definition's
 * {@linkplain ServiceDefinition#spawnLockPatience() spawn-lock patience}. A launcher holds the lock
 * only while it starts or stops the daemon, so a holder that keeps it this long is stopped
 * ({@code Ctrl-Z}, {@code SIGSTOP}, a debugger) or wedged. Nothing was changed. The message names
 * the holder's pid and process state when the kernel reports them ({@code /proc/locks}).
 */
public final class SpawnLockTimeoutException extends BrokerException {
  private static final long serialVersionUID = 1L;

  /** See {@link #service()}. */
  private final String service;
  private final transient Path lockFile;
  /** See {@link #waited()}. */
  private final Duration waited;
  /** The holder's pid, or -1; see {@link #holderPid()}. */
  private final long holderPid;

  /**
   * Creates the error.
   *
   * @param service the service whose spawn lock was wanted
   * @param lockFile the spawn-lock file, {@code SERVICE.spawn-lock} in the runtime directory
   * @param waited how long this launcher waited before giving up
   * @param holderPid the pid holding the lock, or -1 when unknown
   * @param holderState what is known of the holder's state, possibly empty
   */
  public SpawnLockTimeoutException(String service, Path lockFile, Duration waited, long holderPid,
      String holderState) {
    super("daemon '" + service + "': gave up after " + waited.toMillis() + " ms waiting for the spawn lock "
        + lockFile + ", which " + (holderPid > 0 ? "pid " + holderPid
            + (holderState.isEmpty() ? "" : " (" + holderState + ")") : "another process")
        + " holds while it starts or stops the daemon; "
        + (holderPid > 0 ? "resume (kill -CONT " + holderPid + ") or end that process, " : "find that process, ")
        + "or raise ServiceDefinition.spawnLockPatience");
    this.service = Objects.requireNonNull(service, "service");
    this.lockFile = Objects.requireNonNull(lockFile, "lockFile");
    this.waited = Objects.requireNonNull(waited, "waited");
    this.holderPid = holderPid;
  }

  /**
   * The service.
   *
   * @return the name of the service whose spawn lock was wanted
   */
  public String service() {
    return service;
  }

  /**
   * The spawn-lock file.
   *
   * @return {@code SERVICE.spawn-lock} in the runtime directory; null after deserialization, as
   *     {@code Path} is not serializable
   */
  public Path lockFile() {
    return lockFile;
  }

  /**
   * How long the launcher waited.
   *
   * @return the time from the first try for the lock to giving up, about the definition's
   *     {@link ServiceDefinition#spawnLockPatience() spawn-lock patience}
   */
  public Duration waited() {
    return waited;
  }

  /**
   * The pid that held the lock when the launcher gave up, if the kernel said.
   *
   * @return the holder's process id from {@code /proc/locks}, positive (it may be this very process,
   *     when another thread of it holds the lock); empty when it could not be told
   */
  public OptionalLong holderPid() {
    return holderPid > 0 ? OptionalLong.of(holderPid) : OptionalLong.empty();
  }
}
