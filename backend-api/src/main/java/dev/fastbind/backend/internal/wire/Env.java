package dev.fastbind.backend.internal.wire;

/**
 * The environment a broker gives the daemon it spawns, and the daemon's bootstrap reads: one name
 * per setting, in one place. A daemon started by hand or by systemd may set them too; each has a
 * default derived from the {@link ServiceLayout} when unset.
 */
public final class Env {
  private Env() {}

  /** The service name; the broker's marker too (its daemons carry it in {@code /proc/<pid>/environ}). */
  public static final String SERVICE = "FASTBIND_SERVICE";
  /** The runtime directory (default: the per-user one under {@code $XDG_RUNTIME_DIR} or {@code java.io.tmpdir}). */
  public static final String RUNTIME_DIR = "FASTBIND_RUNTIME_DIR";
  /** The main endpoint, as {@code unix:/path} or {@code unix-abstract:name}. */
  public static final String ENDPOINT = "FASTBIND_ENDPOINT";
  /** The SDK's control endpoint. */
  public static final String CONTROL_ENDPOINT = "FASTBIND_CONTROL_ENDPOINT";
  /** The lockfile's path. */
  public static final String LOCKFILE = "FASTBIND_LOCKFILE";
  /** The broker's notify socket, for the readiness line ({@link Readiness}). */
  public static final String NOTIFY_SOCKET = "FASTBIND_NOTIFY_SOCKET";
  /** The prefix every one of these names starts with; a broker clears inherited ones before it spawns. */
  public static final String PREFIX = "FASTBIND_";
  /** The application directory name under the per-user runtime directory. */
  public static final String APP = "fastbind";
}
