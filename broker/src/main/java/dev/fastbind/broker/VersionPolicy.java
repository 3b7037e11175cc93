package dev.fastbind.broker;

/**
 * What {@link Broker#ensureRunning} does when the running daemon reports a version other than the one
 * in the {@link ServiceDefinition}.
 */
public enum VersionPolicy {
  /** Stop the running daemon gracefully and spawn the defined version; the spawn reason says why. */
  RESTART,
  /** Leave the running daemon alone and throw {@link VersionMismatchException}. */
  FAIL,
  /** Use the running daemon whatever its version. */
  ACCEPT
}
