package dev.fastbind.backend;

import dev.fastbind.backend.internal.Listeners;
import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.SocketChannel;

/**
 * A bound, listening endpoint.
 *
 * <p>Obtain one with {@link #bind(Endpoint)} (what a {@link BrokeredBackend} does by default), or let
 * the SDK's bootstrap adopt one the daemon inherited from systemd or from the broker. Once this
 * object exists the kernel queues incoming connections in its accept backlog, whatever the daemon is
 * doing: that is what lets a launcher reach a daemon that is still warming up.
 *
 * <p><b>Peer credentials.</b> {@link #accept()} checks the connecting process's user with the
 * kernel's peer credentials and closes connections from any other user before the daemon sees them,
 * so a daemon never serves another user by accident, even on an abstract endpoint that has no file
 * permissions to protect it.
 *
 * <p><b>Closing.</b> {@link #close()} removes the socket file only if the file at the path is still
 * the one this listener created (same device and inode): a successor daemon that already bound the
 * same path keeps its endpoint. Inherited listeners never remove the file; whoever bound it owns it.
 *
 * <p>Implementations are thread-safe: one thread may block in {@code accept} while another closes.
 */
public interface IpcListener extends Closeable {

  /**
   * Binds {@code endpoint} and starts listening, in microseconds and without touching daemon state.
   *
   * <p>A leftover socket file that nobody listens on (a daemon killed with {@code kill -9}) is
   * reclaimed; a live listener is never replaced. The socket file is made owner-only.
   *
   * @throws BindException.InvalidEndpoint if the endpoint cannot be bound as written
   * @throws BindException.AlreadyBound if a live listener answers at the endpoint
   * @throws BindException.Io if the operating system refuses
   */
  static IpcListener bind(Endpoint endpoint) throws BindException {
    return Listeners.bind(endpoint);
  }

  /** The endpoint this listener is bound to. */
  Endpoint endpoint();

  /**
   * Waits for the next connection from a process of the same user and returns it in blocking mode.
   * Connections from other users are closed and counted in {@link #rejectedPeers()}.
   *
   * @throws java.nio.channels.ClosedChannelException if this listener is closed (also while waiting)
   */
  SocketChannel accept() throws IOException;

  /** How many connections {@link #accept()} closed because their peer was another user. */
  long rejectedPeers();

  /** Whether this listener was inherited (systemd, inetd style, broker hand-off) instead of bound here. */
  boolean isInherited();

  /** Whether this listener is still open. */
  boolean isOpen();

  /**
   * Stops listening and removes the socket file if it is still the one this listener created.
   * Idempotent.
   */
  @Override
  void close() throws IOException;
}
