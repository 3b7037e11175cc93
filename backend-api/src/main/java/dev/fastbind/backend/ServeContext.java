package dev.fastbind.backend;

/**
 * What the SDK hands to {@link BrokeredBackend#serve}: who this daemon is, and a way to report warm-up.
 *
 * <p>The SDK's control endpoint answers {@code HELLO} with the state reported here: {@code WARMING}
 * (with the last reported progress) until {@link #ready()} is called, {@code READY} after. All
 * methods are thread-safe and cheap enough to call from a warm-up loop.
 *
 * <p>The SDK's context also carries the registry given to {@link Daemon.Builder#meterRegistry}, and
 * the SDK's request loop takes it from there by itself. It does so through an internal interface, not
 * a method here: a method typed {@code MeterRegistry} on this interface would be part of every
 * backend's contract (and of every test's own context), and one typed {@code Object} would say
 * nothing; so Micrometer stays an optional dependency that only a daemon with a registry loads.
 */
public interface ServeContext {

  /**
   * The service name this daemon runs as.
   *
   * @return the name given to {@link Daemon#builder}, valid by {@link Daemon#isValidServiceName}
   */
  String service();

  /**
   * The daemon's version, as recorded in its lockfile.
   *
   * @return the version given to {@link Daemon.Builder#version}, or {@code "0"} if none was; never blank
   */
  String version();

  /**
   * The random id of this daemon instance, as recorded in its lockfile.
   *
   * @return 32 lowercase hex digits, random for every start, so a launcher can tell a restarted daemon
   *     from the one it knew even when the pid was reused
   */
  String instanceId();

  /**
   * The command-line arguments the bootstrap did not recognise as its own, in order.
   *
   * @return an immutable list, empty when every argument was the bootstrap's
   */
  java.util.List<String> arguments();

  /**
   * Reports warm-up progress: {@code percent} from 0 to 100 and a short human-readable phase such as
   * {@code "loading index"}.
   *
   * @param percent how far warm-up has come, 0 to 100; it need not only grow
   * @param phase what warm-up is doing now, shown in {@code HELLO}; not null, and a blank phase shows none
   * @throws IllegalArgumentException if percent is outside 0..100
   */
  void progress(int percent, String phase);

  /** Marks warm-up as finished; {@code HELLO} answers {@code READY} from now on. Idempotent. */
  void ready();

  /**
   * Whether {@link #ready()} has been called.
   *
   * @return true once {@link #ready()} was called by any thread; it never becomes false again
   */
  boolean isReady();

  /**
   * Registers an action to run when the daemon stops on purpose: a control {@code SHUTDOWN}, SIGTERM,
   * the idle timeout, {@link #requestShutdown}, or a hand-over of its listener to a replacement.
   * This is where a backend answers the connections it has already accepted (drains): after a
   * {@code SHUTDOWN} the listener is still open while the actions run; after a hand-over it is
   * already closed here (the successor takes every new connection), so whatever the backend accepted
   * and does not answer in this action is lost when the JVM exits. The SDK's request loop registers
   * such a drain itself. Actions run once, in order of
   * registration, on a shutdown thread; they should finish within a few seconds.
   *
   * @param action the action to run, not null; a {@code RuntimeException} it throws is printed on
   *     stderr and the remaining actions still run
   */
  void onShutdown(Runnable action);

  /**
   * Marks the start of work that keeps the daemon busy (an open client connection, a request in
   * flight), until the returned handle is closed. While any is open the daemon is never idle
   * ({@link Daemon.Builder#idleTimeout}); closing the last one starts the idle clock. A server stack
   * of your own calls this per connection (the SDK's request loop does it for you); connections
   * of the SDK's control endpoint never count.
   *
   * @return a handle to close when the work is done; closing it again does nothing
   */
  Busy busy();

  /** Work in progress, from {@link #busy()} until {@link #close()}. */
  interface Busy extends AutoCloseable {
    /** Ends this piece of work; idempotent. */
    @Override
    void close();
  }

  /**
   * Records activity now without holding the daemon busy: for work that has no clear end, such as a
   * message on a long-lived connection. Resets the idle clock.
   */
  void touch();

  /**
   * Asks the SDK to stop this daemon, as a {@code SHUTDOWN} would: the shutdown actions run (so a
   * request loop drains), the lockfile and socket files are removed, and the process exits with
   * status 0 after printing {@code reason} on one line of its log. Returns at once; the stop runs on
   * a thread of its own, so it may be called from a request that the drain then waits for.
   *
   * @param reason why, for the log (for instance {@code "configuration changed on disk"}); not null
   */
  void requestShutdown(String reason);
}
