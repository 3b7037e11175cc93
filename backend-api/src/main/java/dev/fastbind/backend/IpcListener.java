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
 * <p><b>Descriptor exhaustion.</b> {@link #accept()} never fails because the process or the system is
 * out of descriptors ({@code EMFILE}, {@code ENFILE}) or kernel memory: it waits (1 ms doubling to
 * 100 ms, no spinning; {@link #close()} ends the wait) and tries again, while new connections wait
 * in the kernel's backlog, and reports the shortage on stderr once per 10 s. An accept loop over
 * this listener therefore survives descriptor pressure; what it does per connection must too.
 *
 * <p><b>Bounded log.</b> Connections from other users are logged once per peer per 10 s, with a
 * summary of how many more were rejected; a peer that connects in a loop cannot fill the log.
 *
 * <p><b>Closing.</b> {@link #close()} removes the socket file only if the file at the path is still
 * the one this listener created (same device and inode), and does so while still listening, so no
 * other binder can have replaced it in between: a successor daemon that already bound the same path
 * keeps its endpoint. Inherited listeners never remove the file; whoever bound it owns it.
 *
 * <p>Implementations are thread-safe: one thread may block in {@code accept} while another closes.
 */
public interface IpcListener extends Closeable {

  /**
   * Binds {@code endpoint} and starts listening, in microseconds and without touching daemon state.
   *
   * <p>The bind is the election: when several processes bind one path at once, exactly one creates
   * the socket file and the others get {@link BindException.AlreadyBound} naming its pid. A leftover
   * socket file that no socket holds (a daemon killed with {@code kill -9}) is reclaimed; a live
   * listener, or one bound but not yet listening, is never replaced (Linux asks the kernel's socket
   * table, {@code /proc/net/unix}, before removing a file that refuses connections); and of several
   * binders that find one dead file, exactly one removes it, so none removes a successor's. The
   * socket file is made owner-only.
   *
   * @param endpoint the endpoint to bind; a socket path's directory must already exist
   * @return a new listener, open and listening; for a socket path it removes the file on
   *     {@link #close()} if the file is still its own
   * @throws BindException.InvalidEndpoint if the endpoint cannot be bound as written
   * @throws BindException.AlreadyBound if a live listener answers at the endpoint
   * @throws BindException.Io if the operating system refuses
   */
  static IpcListener bind(Endpoint endpoint) throws BindException {
    return Listeners.bind(endpoint);
  }

  /**
   * The endpoint this listener is bound to.
   *
   * @return the bound endpoint; for an inherited listener, the one the socket reports, not the
   *     configured one
   */
  Endpoint endpoint();

  /**
   * Waits for the next connection from a process of the same user and returns it in blocking mode.
   * Connections from other users are closed and counted in {@link #rejectedPeers()}.
   *
   * @return a connected channel in blocking mode whose peer runs as this process's user; the caller
   *     owns it and must close it
   * @throws java.nio.channels.ClosedChannelException if this listener is closed (also while waiting);
   *     a {@link java.nio.channels.ClosedByInterruptException} if the waiting thread was interrupted,
   *     which also closes this listener and keeps the interrupt flag set
   * @throws IOException if the operating system fails the accept for a reason other than a shortage
   *     of descriptors or kernel memory, which are waited out instead
   */
  SocketChannel accept() throws IOException;

  /**
   * How many connections {@link #accept()} closed because their peer was another user.
   *
   * @return the count since this listener was created, zero or more; it only grows
   */
  long rejectedPeers();

  /**
   * Whether this listener was inherited (systemd, inetd style, broker hand-off) instead of bound here.
   *
   * @return true for an inherited listener, whose {@link #close()} leaves the socket file alone
   */
  boolean isInherited();

  /**
   * Whether this listener is still open.
   *
   * @return false once {@link #close()} was called or an interrupt closed it in {@link #accept()}
   */
  boolean isOpen();

  /**
   * Stops listening and removes the socket file if it is still the one this listener created.
   * Idempotent.
   */
  @Override
  void close() throws IOException;
}
