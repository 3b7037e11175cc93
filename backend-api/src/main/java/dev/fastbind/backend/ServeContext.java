package dev.fastbind.backend;

/**
 * What the SDK hands to {@link BrokeredBackend#serve}: who this daemon is, and a way to report warm-up.
 *
 * <p>The SDK's control endpoint answers {@code HELLO} with the state reported here: {@code WARMING}
 * (with the last reported progress) until {@link #ready()} is called, {@code READY} after. All
 * methods are thread-safe and cheap enough to call from a warm-up loop.
 */
public interface ServeContext {

  /** The service name this daemon runs as. */
  String service();

  /** The daemon's version, as recorded in its lockfile. */
  String version();

  /** The random id of this daemon instance, as recorded in its lockfile. */
  String instanceId();

  /** The command-line arguments the bootstrap did not recognise as its own, in order. */
  java.util.List<String> arguments();

  /**
   * Reports warm-up progress: {@code percent} from 0 to 100 and a short human-readable phase such as
   * {@code "loading index"}.
   *
   * @throws IllegalArgumentException if percent is outside 0..100
   */
  void progress(int percent, String phase);

  /** Marks warm-up as finished; {@code HELLO} answers {@code READY} from now on. Idempotent. */
  void ready();

  /** Whether {@link #ready()} has been called. */
  boolean isReady();

  /**
   * Registers an action to run when the daemon is asked to stop (a control {@code SHUTDOWN} or
   * SIGTERM), before the SDK removes its lockfile and socket files. Actions run once, in order of
   * registration, on a shutdown thread; they should finish within a few seconds.
   */
  void onShutdown(Runnable action);
}
