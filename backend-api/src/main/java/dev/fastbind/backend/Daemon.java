package dev.fastbind.backend;

import dev.fastbind.backend.internal.wire.Escaping;
import dev.fastbind.backend.internal.Bootstrap;
import dev.fastbind.backend.internal.DaemonMetrics;
import dev.fastbind.backend.internal.MicrometerDaemonMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;

/**
 * The daemon-side bootstrap: the one call a daemon's {@code main} makes.
 *
 * <pre>{@code
 * public static void main(String[] args) {
 *   Daemon.builder("cache", new CacheBackend()).version("1.4.0").run(args);
 * }
 * }</pre>
 *
 * <p>{@link Builder#run} does, in order:
 *
 * <ol>
 *   <li>Resolves the configuration (below) and checks that the runtime directory is owner-only.
 *   <li>Adopts an inherited listener if there is one (systemd's {@code LISTEN_FDS}/{@code LISTEN_PID}
 *       at fd 3, or a listening socket on fd 0 as inetd and the broker's hand-off pass it); otherwise
 *       calls {@link BrokeredBackend#bind}.
 *   <li>Binds the SDK's control endpoint and serves it on its own thread from then on: {@code HELLO},
 *       {@code STATUS}, {@code SHUTDOWN}.
 *   <li>Writes the lockfile atomically (owner-only, versioned, human-readable).
 *   <li>Announces {@code READY} on the broker's notify socket, if the broker passed one.
 *   <li>Calls {@link BrokeredBackend#serve} on the calling thread.
 * </ol>
 *
 * <p>On {@code SHUTDOWN} or SIGTERM the shutdown actions registered with
 * {@link ServeContext#onShutdown} run, then the lockfile and socket files are removed if they still
 * name this instance. {@code SHUTDOWN} exits with status 0; SIGTERM with the JVM's usual 143.
 *
 * <h2>Configuration</h2>
 *
 * Command-line arguments win over environment variables, which win over defaults. The broker sets
 * the environment variables; a person running the daemon by hand may use the arguments.
 *
 * <table>
 *   <caption>Settings</caption>
 *   <tr><th>argument</th><th>environment</th><th>default</th></tr>
 *   <tr><td>{@code --runtime-dir=DIR}</td><td>{@code FASTBIND_RUNTIME_DIR}</td>
 *       <td>{@code $XDG_RUNTIME_DIR/fastbind} if that variable holds an absolute path, else
 *       {@code <java.io.tmpdir>/fastbind-<user.name>} (the JVM's system properties; on Linux
 *       {@code java.io.tmpdir} is {@code /tmp} whatever {@code $TMPDIR} says)</td></tr>
 *   <tr><td>{@code --endpoint=TEXT}</td><td>{@code FASTBIND_ENDPOINT}</td>
 *       <td>{@code unix:DIR/SERVICE.sock}</td></tr>
 *   <tr><td>{@code --control-endpoint=TEXT}</td><td>{@code FASTBIND_CONTROL_ENDPOINT}</td>
 *       <td>{@code unix:DIR/SERVICE.ctl}</td></tr>
 *   <tr><td>{@code --lockfile=PATH}</td><td>{@code FASTBIND_LOCKFILE}</td>
 *       <td>{@code DIR/SERVICE.lock}</td></tr>
 *   <tr><td></td><td>{@code FASTBIND_NOTIFY_SOCKET}</td><td>none: no readiness message is sent</td></tr>
 *   <tr><td></td><td>{@code FASTBIND_SERVICE}</td><td>if set, must equal the service name given here</td></tr>
 * </table>
 *
 * <p>The daemon creates no directory but its runtime directory: a lockfile or endpoint outside it must
 * be in a directory that exists.
 *
 * <p>Arguments the bootstrap does not recognise are passed to the backend in
 * {@link ServeContext#arguments()}.
 *
 * <h2>Exit statuses</h2>
 *
 * {@value #EXIT_USAGE} invalid configuration (a bad service name or version given to the builder, a
 * setting that names a file in a directory that does not exist, an inherited descriptor that is not a
 * listening Unix-domain socket); {@value #EXIT_BIND_FAILED} the endpoint could not be bound (the
 * {@link BindException} is printed on stderr and {@code serve} never runs; when daemons race for one
 * endpoint, every one but the winner exits so, naming the winner's pid);
 * {@value #EXIT_CANNOT_CREATE} the runtime directory or lockfile could not be created safely;
 * {@value #EXIT_SERVE_FAILED} {@code serve} threw or returned. Every failure prints one line on stderr
 * that starts with {@code fastbind: SERVICE:} and says what to do.
 *
 * <h2>Metrics</h2>
 *
 * Given a registry ({@link Builder#meterRegistry}), the bootstrap and the SDK's request loop
 * ({@link dev.fastbind.backend.loop.RequestLoop}, which takes the registry from its
 * {@link ServeContext} by itself) record these Micrometer meters. Without one, no Micrometer class is
 * loaded and nothing is recorded: Micrometer is an optional dependency of this module, which a daemon
 * that wants meters declares itself.
 *
 * <table>
 *   <caption>Daemon meters</caption>
 *   <tr><th>name</th><th>type</th><th>tags</th><th>what</th></tr>
 *   <tr><td>{@code fastbind.daemon.warmup}</td><td>timer</td><td></td>
 *       <td>from the start of {@link Builder#run} to {@link ServeContext#ready()}; recorded once</td></tr>
 *   <tr><td>{@code fastbind.daemon.connections}</td><td>counter</td><td></td>
 *       <td>connections the request loop accepted</td></tr>
 *   <tr><td>{@code fastbind.daemon.connections.active}</td><td>gauge</td><td></td>
 *       <td>connections the request loop has open now</td></tr>
 *   <tr><td>{@code fastbind.daemon.requests}</td><td>timer</td><td>{@code outcome}: {@code ok},
 *       {@code failed} (the handler threw or returned null), {@code cancelled} (the client left while it
 *       ran), {@code refused} (draining), {@code warming} (answered {@code WARMING}), {@code dropped} (the
 *       client left while it waited for a slot)</td>
 *       <td>each request of the request loop, from its read to its answer written; a frame refused as
 *       too large or malformed is not a request</td></tr>
 *   <tr><td>{@code fastbind.daemon.peers.rejected}</td><td>function counter</td><td>{@code listener}:
 *       {@code main} or {@code control}</td>
 *       <td>connections refused because the peer runs as another user ({@link IpcListener#rejectedPeers()})</td></tr>
 *   <tr><td>{@code fastbind.daemon.idle.exits}</td><td>counter</td><td></td>
 *       <td>stops after the {@linkplain Builder#idleTimeout idle timeout}</td></tr>
 *   <tr><td>{@code fastbind.daemon.exits}</td><td>counter</td><td>{@code reason}: the death record's cause
 *       in lowercase ({@code shutdown-request}, {@code idle-timeout}, {@code requested}, {@code sigterm},
 *       {@code handed-over}, {@code serve-returned}, {@code serve-threw}, {@code startup-failed})</td>
 *       <td>the daemon's end, counted in its shutdown hook before the shutdown actions run, so an action
 *       that publishes the registry includes it</td></tr>
 * </table>
 */
public final class Daemon {

  /** Exit status for an invalid configuration (sysexits' EX_USAGE). */
  public static final int EXIT_USAGE = 64;
  /** Exit status when the endpoint cannot be bound (EX_UNAVAILABLE). */
  public static final int EXIT_BIND_FAILED = 69;
  /** Exit status when {@code serve} throws or returns (EX_SOFTWARE). */
  public static final int EXIT_SERVE_FAILED = 70;
  /** Exit status when the runtime directory or lockfile cannot be created safely (EX_CANTCREAT). */
  public static final int EXIT_CANNOT_CREATE = 73;


  private Daemon() {}

  /**
   * Starts configuring a daemon for {@code service}, served by {@code backend}.
   *
   * <p>Nothing is checked here: a service name that breaks the rule below, a null backend or a blank
   * version make {@link Builder#run} print one line and exit with {@value #EXIT_USAGE}, like every
   * other configuration error, instead of ending {@code main} with a stack trace.
   *
   * @param service a short lowercase name: a letter, then letters, digits and dashes, at most 32
   * @param backend the daemon's stateless {@link BrokeredBackend}; null is reported by {@code run}
   * @return a new builder; finish with {@link Builder#run}
   */
  public static Builder builder(String service, BrokeredBackend backend) {
    return new Builder(service, backend);
  }


  /**
   * Whether {@code name} is a valid service name: {@code [a-z][a-z0-9-]{0,31}}.
   *
   * @param name the candidate name; may be null
   * @return true if it is 1 to 32 characters, a lowercase ASCII letter followed by lowercase ASCII
   *     letters, digits and dashes; false otherwise, and for null
   */
  public static boolean isValidServiceName(String name) {
    if (name == null || name.isEmpty() || name.length() > 32 || name.charAt(0) < 'a' || name.charAt(0) > 'z') {
      return false;
    }
    for (int i = 1; i < name.length(); i++) {
      char c = name.charAt(i);
      if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')) {
        return false;
      }
    }
    return true;
  }

  /** Configures and runs a daemon. Not thread-safe; use from {@code main}. */
  public static final class Builder {
    private final String service;
    private final BrokeredBackend backend;
    private String version = "0";
    private java.time.Duration idleTimeout;
    private DaemonMetrics metrics = DaemonMetrics.NONE;
    /** The first configuration error, reported by {@link #run}; null while there is none. */
    private String problem;

    private Builder(String service, BrokeredBackend backend) {
      this.service = service;
      this.backend = backend;
      if (!isValidServiceName(service)) {
        problem = "invalid service name " + (service == null ? "null" : "'" + Escaping.printable(service) + "'")
            + ": use a letter, then letters, digits and dashes, lowercase, at most 32 characters";
      } else if (backend == null) {
        problem = "no backend: Daemon.builder was given null instead of a BrokeredBackend";
      }
    }

    /**
     * The daemon's version, recorded in the lockfile and answered in {@code HELLO}. Default {@code "0"}.
     * A null or blank version is reported by {@link #run}.
     *
     * @param version the daemon's release, such as {@code "1.4.0"}; any text that is not blank
     * @return this builder
     */
    public Builder version(String version) {
      if (version == null || version.isBlank()) {
        if (problem == null) {
          problem = "the version must not be " + (version == null ? "null" : "blank") + ": pass the daemon's release"
              + " version to Daemon.builder(...).version(...)";
        }
        return this;
      }
      this.version = version;
      return this;
    }

    /**
     * Stops the daemon once it has been idle for {@code timeout}: no {@link ServeContext#busy()}
     * handle open (the SDK's request loop holds one per open connection and request; a stack of
     * your own calls it) and no {@link ServeContext#touch()} for that long, counted from the end of
     * warm-up ({@link ServeContext#ready()}): a daemon that is still warming up is never idle. The daemon then stops as
     * after a {@code SHUTDOWN} (shutdown actions, files removed, status 0) and its log says why.
     * Default: never. Peers stop their daemons after 3 h (Gradle, mvnd, Bazel) or 10 min (sccache);
     * the next {@code ensureRunning} simply starts a fresh one.
     *
     * @param timeout how long the daemon may sit idle; positive. A non-positive or null timeout is
     *     reported by {@link #run}
     * @return this builder
     */
    public Builder idleTimeout(java.time.Duration timeout) {
      if (timeout == null || timeout.isZero() || timeout.isNegative()) {
        if (problem == null) {
          problem = "the idle timeout must be positive, got " + timeout + ": pass e.g. Duration.ofHours(3)";
        }
        return this;
      }
      this.idleTimeout = timeout;
      return this;
    }

    /**
     * Records the daemon's meters (the table on {@link Daemon}) into {@code registry}. Typed
     * {@code MeterRegistry}, yet Micrometer stays optional: only this method's body names the class
     * that records into it, so a daemon that never calls it never loads a Micrometer class. The
     * request loop finds the registry through its {@link ServeContext}. A null registry is reported by
     * {@link #run}.
     *
     * @param registry where to register and record the meters, for instance a Prometheus registry
     *     that the backend exposes
     * @return this builder
     */
    public Builder meterRegistry(MeterRegistry registry) {
      if (registry == null) {
        if (problem == null) {
          problem = "the meter registry must not be null: pass a MeterRegistry, or leave meterRegistry out for none";
        }
        return this;
      }
      this.metrics = MicrometerDaemonMetrics.of(registry);
      return this;
    }

    /**
     * Runs the daemon: bind, lockfile, readiness, serve. Never returns: the process ends when the
     * daemon stops or fails, with the statuses listed on {@link Daemon}.
     *
     * @param args the arguments {@code main} was given; {@code --runtime-dir=}, {@code --endpoint=},
     *     {@code --control-endpoint=} and {@code --lockfile=} are the bootstrap's, the rest go to
     *     {@link ServeContext#arguments()} in order; null means none
     * @return never: the JVM ends inside this call, with status 0 after a {@code SHUTDOWN}, 143 after
     *     SIGTERM, or one of the {@code EXIT_} statuses on failure
     */
    public Never run(String... args) {
      int status;
      if (problem != null) {
        System.err.println("fastbind: " + (service == null ? "null" : Escaping.printable(service)) + ": " + problem);
        status = EXIT_USAGE;
      } else {
        status = Bootstrap.run(service, version, backend, args == null ? List.of() : List.of(args), System.getenv(),
            idleTimeout, metrics);
      }
      Runtime.getRuntime().exit(status);
      throw new AssertionError("unreachable: the JVM is exiting");
    }
  }
}
