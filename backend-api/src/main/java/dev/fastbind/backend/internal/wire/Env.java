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
  /**
   * The path of the hand-off rendezvous socket from which this process takes its listening socket
   * (see {@code Handoff}); honoured only when {@link #HANDOFF_PARENT} names this process's parent.
   */
  public static final String HANDOFF = "FASTBIND_HANDOFF";
  /**
   * The pid of the process that serves {@link #HANDOFF}. A daemon's own children inherit both
   * variables; their parent is the daemon, not the broker, so they ignore them.
   */
  public static final String HANDOFF_PARENT = "FASTBIND_HANDOFF_PARENT";
  /**
   * The instance id the broker chose for a daemon it hands a listener to (32 lowercase hex digits),
   * so that what {@code ensureRunning} returns before the daemon has written its lockfile names the
   * instance the lockfile will name.
   */
  public static final String INSTANCE_ID = "FASTBIND_INSTANCE_ID";
  /** How long, in milliseconds, the taker may wait for the rendezvous to accept it. */
  public static final String HANDOFF_PATIENCE_MS = "FASTBIND_HANDOFF_PATIENCE_MS";
  /** The compatibility key the broker started the daemon for, canonical ({@code Compatibility}). */
  public static final String COMPATIBILITY = "FASTBIND_COMPATIBILITY";
  /**
   * The daemon log's bound, {@code bytes:generations}: past {@code bytes} the bootstrap copies the
   * log its stdout appends to into {@code s.log.1} (keeping {@code generations} older files) and
   * truncates it ({@code LogWatch}). Unset or {@code 0}: no bound.
   */
  public static final String LOG_LIMIT = "FASTBIND_LOG_LIMIT";
  /**
   * The pid of the process that owns this one as a private worker (a {@code WorkerPool}): the
   * worker's standard input is a pipe from that owner, and its end of file (the owner closed it, or
   * died, even by {@code SIGKILL}) ends the worker and what it started ({@code OwnerWatch}). Honoured
   * only when it names this process's parent, so a worker's own children ignore it.
   */
  public static final String OWNER = "FASTBIND_OWNER";
  /** The prefix every one of these names starts with; a broker clears inherited ones before it spawns. */
  public static final String PREFIX = "FASTBIND_";
  /** The application directory name under the per-user runtime directory. */
  public static final String APP = "fastbind";
}
