package dev.fastbind.broker;

/**
 * What a launcher does when the running daemon's compatibility key differs from its definition's
 * ({@link ServiceDefinition#compatibilityKey()}): a different Java home, JVM options, class path or a
 * key the author added. Either way the difference is logged in one line and carried by
 * {@link DaemonInfo#spawnDetail()} with {@link SpawnReason#COMPATIBILITY_MISMATCH}.
 */
public enum CompatibilityPolicy {
  /**
   * Start a second daemon beside the running one (Gradle's model), in files named after the key
   * ({@code SERVICE~<id>.sock}, …), so launchers of both kinds keep a warm daemon each instead of
   * restarting one another. At most {@link ServiceDefinition#maxSideBySide()} daemons of a service
   * run at once; to start one more, the broker stops the one idle longest. The default.
   */
  SIDE_BY_SIDE,
  /** Replace the running daemon by one with this launcher's key. */
  REPLACE
}
