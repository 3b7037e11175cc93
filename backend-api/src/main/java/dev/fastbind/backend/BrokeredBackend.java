package dev.fastbind.backend;

/**
 * What a daemon author implements: bind first, warm later.
 *
 * <p>The SDK's bootstrap ({@link Daemon}) calls the two methods in order:
 *
 * <ol>
 *   <li>{@link #bind(Endpoint)}: returns a listening endpoint in microseconds.
 *   <li>The SDK writes the lockfile, opens its control endpoint and announces readiness to the
 *       broker. From here on a launcher can connect; connections wait in the kernel's accept backlog.
 *   <li>{@link #serve(IpcListener, ServeContext)}: creates the daemon's state, warms up (this may take
 *       seconds), then accepts and serves connections until the process ends. It never returns.
 * </ol>
 *
 * <p><b>The class that implements this interface holds no state.</b> Java has no abstract static
 * methods, so "bind happens before any state exists" is kept by construction: the implementing class
 * has no instance fields and a trivial constructor; the object that holds the daemon's state is
 * created inside {@code serve}. The conformance kit checks this in bytecode.
 *
 * <p><b>What {@code bind} may do:</b> validate the endpoint, create and bind a socket (normally just
 * {@code return IpcListener.bind(endpoint);}, which the default method does), set socket options,
 * and throw a {@link BindException}.
 *
 * <p><b>What {@code bind} must not do:</b> read or write files (configuration, caches, logs), sleep
 * or wait, start threads or executors, open network connections or databases, or read or write
 * instance fields or mutable static fields. All of that belongs in {@code serve}, after the
 * endpoint exists. A {@code bind} that does any of it delays every launcher that is waiting and
 * fails the conformance kit.
 */
public interface BrokeredBackend {

  /**
   * Binds the daemon's endpoint. Called once, before any daemon state exists; see the class
   * documentation for what it may and may not do. The default binds with {@link IpcListener#bind}.
   *
   * @param endpoint the endpoint the configuration names (see {@link Daemon}), already validated
   * @return a listener bound to {@code endpoint} and already listening; the SDK passes it to
   *     {@code serve} and closes it when the daemon stops
   * @throws BindException if the endpoint cannot be bound; {@code serve} is then never called
   */
  default IpcListener bind(Endpoint endpoint) throws BindException {
    return IpcListener.bind(endpoint);
  }

  /**
   * Creates the daemon's state, warms up and serves {@code listener} forever.
   *
   * <p>Report warm-up through {@code context} ({@link ServeContext#progress}, then
   * {@link ServeContext#ready()}) so that the broker's {@code HELLO} shows it. The declared return
   * type {@link Never} has no instances: this method can only loop, throw or exit. If it throws, the
   * process exits non-zero with the error on stderr, and the SDK removes its lockfile and socket.
   *
   * @param listener the listener {@code bind} returned, or the one the daemon inherited; connections
   *     that arrived since the bind wait in its backlog
   * @param context who this daemon is, its unrecognised arguments, and where warm-up is reported
   * @return never: {@code Never} has no instances. A {@code serve} that returns (even {@code null}) is
   *     reported on stderr and the process exits with {@link Daemon#EXIT_SERVE_FAILED}
   * @throws Exception if the daemon cannot go on; the process exits with
   *     {@link Daemon#EXIT_SERVE_FAILED}, unless a {@code SHUTDOWN} or SIGTERM already under way closed
   *     the listener under it, in which case that exit (status 0 or 143) stands
   */
  Never serve(IpcListener listener, ServeContext context) throws Exception;
}
