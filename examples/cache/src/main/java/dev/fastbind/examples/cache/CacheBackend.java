package dev.fastbind.examples.cache;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.loop.Handler;
import dev.fastbind.backend.loop.RequestLoop;
import dev.fastbind.backend.loop.WarmupPolicy;
import dev.fastbind.examples.cache.CacheProtocol.Get;
import dev.fastbind.examples.cache.CacheProtocol.Put;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * A content-addressed cache daemon: {@code put} stores a blob under the SHA-256 of its content and
 * answers that key, {@code get} returns the blob of a key (checked against it on every read), and
 * {@code stats} says what it holds. The blobs and an index of them live in a state directory, so the
 * cache outlives its daemon; the protocol is {@link CacheProtocol}, served by the SDK's
 * {@link RequestLoop}; {@link CacheCtl} is its command-line client.
 *
 * <p><b>Warm-up.</b> {@code serve} starts the request loop first, so the daemon accepts at once, then
 * loads the index (every line's checksum checked, every blob's file looked up), reporting progress
 * through {@link ServeContext#progress} ({@code HELLO} and {@code cachectl status} show it). A request
 * that arrives meanwhile waits until the index is loaded ({@link WarmupPolicy#WAIT}) and is then
 * answered as if it had just arrived: never a wrong "not found" from a half-loaded index.
 *
 * <p><b>Stopping.</b> After {@link #IDLE_TIMEOUT} without a connection the daemon stops by itself
 * (the next {@code cachectl} starts a fresh one); on {@code cachectl stop}, SIGTERM or the idle
 * timeout, requests in flight are answered within {@link #DRAIN} (the loop's drain), then the index
 * is closed. Every put is on disk before it is answered, so a {@code kill -9} loses nothing that was
 * answered (see {@link BlobStore}).
 *
 * <table>
 *   <caption>Settings (a system property wins over the environment variable; {@code cachectl} passes
 *   the state directory it resolved to the daemon it starts)</caption>
 *   <tr><th>property</th><th>environment</th><th>default</th></tr>
 *   <tr><td>{@code cache.state-dir}</td><td>{@code CACHECTL_STATE_DIR}</td>
 *       <td>{@code $XDG_STATE_HOME/fastbind-cache} if that is an absolute path, else
 *       {@code ~/.local/state/fastbind-cache}</td></tr>
 *   <tr><td>{@code cache.idle-ms}</td><td>{@code CACHECTL_IDLE_MS}</td><td>600000 (10 minutes)</td></tr>
 *   <tr><td>{@code cache.index-delay-ms}</td><td>{@code CACHECTL_INDEX_DELAY_MS}</td>
 *       <td>0: an artificial pause per index entry, to show a slow warm-up in tests and the demo</td></tr>
 * </table>
 *
 * <p>Like every backend, the class has no fields: the store is made inside {@code serve}.
 */
public final class CacheBackend implements BrokeredBackend {

  /** The service name launchers use to find this daemon. */
  public static final String SERVICE = "cache";
  /** The daemon's version, recorded in its lockfile. */
  public static final String VERSION = "1.0.0";
  /** How long the daemon stays up without a connection, unless {@code cache.idle-ms} says otherwise. */
  public static final Duration IDLE_TIMEOUT = Duration.ofMinutes(10);
  /** How long requests in flight get when the daemon stops; below the broker's 5 s stop grace. */
  static final Duration DRAIN = Duration.ofSeconds(3);

  /**
   * The daemon's settings, resolved as the class documentation's table says.
   *
   * @param stateDirectory where the blobs and the index are; absolute
   * @param idleTimeout how long the daemon may sit idle
   * @param indexDelay the artificial pause per index entry
   */
  record Settings(Path stateDirectory, Duration idleTimeout, Duration indexDelay) {

    /** This process's settings: its system properties and environment. */
    static Settings current() {
      return resolve(System::getProperty, System.getenv());
    }

    /**
     * Resolves the settings from {@code properties} (name to value, or null) and {@code env}.
     *
     * @throws IllegalArgumentException with one line saying which setting is wrong and why
     */
    static Settings resolve(UnaryOperator<String> properties, Map<String, String> env) {
      String dir = setting(properties, env, "cache.state-dir", "CACHECTL_STATE_DIR");
      Path state;
      if (dir != null && !dir.isEmpty()) {
        state = Path.of(dir).toAbsolutePath().normalize();
      } else {
        String xdg = env.get("XDG_STATE_HOME");
        Path base = xdg != null && Path.of(xdg).isAbsolute() ? Path.of(xdg)
            : Path.of(properties.apply("user.home"), ".local", "state");
        state = base.resolve("fastbind-cache").normalize();
      }
      return new Settings(state, millis(properties, env, "cache.idle-ms", "CACHECTL_IDLE_MS", IDLE_TIMEOUT, 1),
          millis(properties, env, "cache.index-delay-ms", "CACHECTL_INDEX_DELAY_MS", Duration.ZERO, 0));
    }

    private static String setting(UnaryOperator<String> properties, Map<String, String> env, String property,
        String variable) {
      String value = properties.apply(property);
      return value != null ? value : env.get(variable);
    }

    private static Duration millis(UnaryOperator<String> properties, Map<String, String> env, String property,
        String variable, Duration fallback, long min) {
      String value = setting(properties, env, property, variable);
      if (value == null || value.isEmpty()) {
        return fallback;
      }
      try {
        long ms = Long.parseLong(value);
        if (ms >= min) {
          return Duration.ofMillis(ms);
        }
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new IllegalArgumentException(property + " / " + variable + " is '" + value + "': give a whole number of"
          + " milliseconds, at least " + min);
    }
  }

  /** Daemon entry point; the broker starts it with this class as the main class. */
  public static void main(String[] args) {
    Duration idle;
    try {
      idle = Settings.current().idleTimeout();
    } catch (IllegalArgumentException e) {
      System.err.println("cache: " + e.getMessage());
      System.exit(Daemon.EXIT_USAGE);
      return;
    }
    Daemon.builder(SERVICE, new CacheBackend()).version(VERSION).idleTimeout(idle).run(args);
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    Settings settings = Settings.current();
    RequestLoop loop = RequestLoop.builder()
        .maxPayloadBytes(CacheProtocol.MAX_REQUEST_BYTES)
        .warmup(WarmupPolicy.WAIT)  // the default, stated: early requests wait for the index
        .drainGrace(DRAIN)
        .start(listener, context);  // accepting from here on
    BlobStore store = BlobStore.open(settings.stateDirectory(), settings.indexDelay(), context::progress);
    context.onShutdown(() -> close(store)); // after the loop's drain, registered first
    return loop.serve(Handler.of(CacheProtocol.REQUESTS, CacheProtocol.RESPONSES, (request, ctx) -> {
      if (request instanceof Put put) {
        return store.put(put.blob());
      }
      if (request instanceof Get get) {
        return store.get(get.key());
      }
      return store.statistics();
    }));
  }

  private static void close(BlobStore store) {
    try {
      store.close();
    } catch (java.io.IOException e) {
      System.err.println("cache: closing the index: " + e);
    }
  }
}
