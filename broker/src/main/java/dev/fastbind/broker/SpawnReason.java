package dev.fastbind.broker;

/**
 * Why {@link Broker#ensureRunning} spawned a daemon, or why {@link Broker#status} calls the recorded
 * one stale: a machine-readable reason, with the human-readable detail kept next to it.
 */
public enum SpawnReason {
  /** No lockfile: the service was never started, or was stopped cleanly. */
  ABSENT,
  /** The lockfile names a pid that no longer exists (the daemon crashed or was killed). */
  DEAD_PID,
  /** The lockfile's pid exists but belongs to another process (different start time). */
  PID_REUSED,
  /** The lockfile was written before the machine last booted. */
  REBOOTED,
  /** The recorded process is alive but its endpoint refuses connections or is missing. */
  UNCONNECTABLE_SOCKET,
  /** The lockfile could not be read as a record (empty, truncated, garbage, foreign, symlink…). */
  CORRUPT_LOCKFILE,
  /**
   * The running daemon's version differs and the definition asks for {@link VersionPolicy#RESTART}
   * (which replaces only a daemon that is not newer) or {@link VersionPolicy#RESTART_EVEN_IF_NEWER}.
   */
  VERSION_MISMATCH,
  /** The daemon did not answer {@code HELLO} and the definition asks for {@link UnresponsivePolicy#REPLACE}. */
  UNRESPONSIVE,
  /** {@link Broker#replace} was called for a running daemon. */
  REPLACE_REQUESTED,
  /**
   * The running daemon's compatibility key differs from the definition's
   * ({@link ServiceDefinition#compatibilityKey()}): it was replaced, or this daemon started beside
   * it ({@link CompatibilityPolicy}); the spawn detail says what differs.
   */
  COMPATIBILITY_MISMATCH
}
