package dev.fastbind.broker;

/**
 * What {@link Broker#ensureRunning} does when the running daemon reports a version other than the one
 * in the {@link ServiceDefinition}. Equal strings always match; only a definition with a
 * {@linkplain ServiceDefinition#version() version} consults the policy.
 *
 * <p><b>The rule: by default a launcher never replaces a newer daemon with an older one.</b> With
 * {@link #RESTART} an <em>older</em> running daemon is replaced, and a <em>newer</em> one is kept and
 * handed out: the launcher talks to it, and {@link DaemonInfo#version()} says which version it got.
 * Two installs of one tool used in turn therefore stop restarting each other: after the newer one
 * has started its daemon once, both use it, and an old client's retry cannot put its old daemon back.
 * A launcher that cannot speak to a newer daemon says {@link #FAIL}, which reports every mismatch
 * with {@link VersionMismatchException}; one that must run exactly its own version says
 * {@link #RESTART_EVEN_IF_NEWER}; or a person stops the newer daemon with {@link Broker#stop}, after
 * which the next {@code ensureRunning} starts the definition's version.
 *
 * <p><b>The order.</b> A version that can be ordered is {@code release[-qualifier][+build]}:
 * <ul>
 *   <li>the release is one or more ASCII decimal numbers separated by dots, compared number by number
 *       numerically ({@code 1.4.0} is older than {@code 1.10.0}; any length, leading zeros ignored), a
 *       missing number counting as 0 ({@code 1.4} and {@code 1.4.0} are the same);
 *   <li>a qualifier is one or more dot-separated identifiers of ASCII letters, digits and hyphens; a
 *       qualified version is older than its release ({@code 1.4.0-SNAPSHOT} is older than
 *       {@code 1.4.0}), and two qualifiers of one release compare as SemVer 2.0.0 orders pre-releases:
 *       identifier by identifier, digits-only ones numerically and below the others, the others in
 *       ASCII order, and a qualifier that is a prefix of the other is older
 *       ({@code -alpha < -alpha.1 < -beta < -beta.2 < -beta.11 < -rc.1}); words have no special meaning,
 *       so {@code -RC1} is older than {@code -alpha} and {@code -rc10} older than {@code -rc2} (write
 *       {@code -rc.10});
 *   <li>the build is ignored.
 * </ul>
 * Anything else ({@code v1.4}, {@code 1.4 }, {@code 1..4}, a commit hash, an empty version) cannot be
 * ordered. A version that cannot be ordered, or that orders the same as the other but is spelt
 * differently ({@code 1.4} against {@code 1.4.0}), counts as <em>not newer</em>: {@link #RESTART}
 * replaces it as it replaces an older one. Two launchers that use such versions may still restart
 * each other, so give daemons versions this order knows, spelt one way.
 */
public enum VersionPolicy {
  /**
   * The default: a daemon that is not newer than the definition's version (older, or not ordered
   * above it, see the class doc) is stopped gracefully and the defined version spawned, with
   * {@link SpawnReason#VERSION_MISMATCH}; a newer daemon is left running and handed out as it is.
   */
  RESTART,
  /** Leave the running daemon alone and throw {@link VersionMismatchException}, whether it is older or newer. */
  FAIL,
  /** Use the running daemon whatever its version. */
  ACCEPT,
  /**
   * Stop any running daemon whose version differs, newer ones included, and spawn the defined
   * version: the opt-in for a launcher that must run exactly its own version and accepts that two
   * installs of different versions then restart each other on every call.
   */
  RESTART_EVEN_IF_NEWER
}
