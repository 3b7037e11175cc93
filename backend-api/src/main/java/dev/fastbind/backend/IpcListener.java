package dev.fastbind.backend;

import dev.fastbind.backend.internal.Listeners;
import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.attribute.UserPrincipal;

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
 * <p><b>Serving on any stack.</b> A daemon need not accept through this interface: a server stack
 * takes the listening socket itself, as a channel ({@link #channel()}: a {@code Selector}, Netty's NIO
 * transport) or as a descriptor ({@link #duplicateDescriptor()}: Netty's epoll transport and other
 * native ones). Connections such a stack accepts have not been peer-checked; to keep the same-user
 * guarantee, pass each one to {@link #admit(SocketChannel)}, {@link #admit(UserPrincipal)} or
 * {@link #admitUid(long)}, whichever fits what the stack reports of the peer, and close the ones
 * refused. Skipping the check is the caller's choice (a stack with its own authentication may make
 * it); {@link #accept()} keeps making it for you. The README's "Serving with Netty" shows both
 * transports.
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
   * <p>Once {@link #channel()} is in non-blocking mode (registered with a {@code Selector}, or after
   * {@link #duplicateDescriptor()}), this does not wait: it returns the next waiting connection of the
   * same user, or null when none is waiting. A selector loop can therefore accept through here on
   * each {@code OP_ACCEPT} and keep the peer check.
   *
   * @return a connected channel in blocking mode whose peer runs as this process's user, or null in
   *     non-blocking mode when no such connection is waiting; the caller owns it and must close it
   * @throws java.nio.channels.ClosedChannelException if this listener is closed (also while waiting);
   *     a {@link java.nio.channels.ClosedByInterruptException} if the waiting thread was interrupted,
   *     which also closes this listener and keeps the interrupt flag set
   * @throws IOException if the operating system fails the accept for a reason other than a shortage
   *     of descriptors or kernel memory, which are waited out instead
   */
  SocketChannel accept() throws IOException;

  /**
   * The listening socket as a channel, for stacks that serve one: a {@link java.nio.channels.Selector}
   * (after {@code configureBlocking(false)}), or Netty's NIO transport
   * ({@code new NioServerDomainSocketChannel(listener.channel())}).
   *
   * <p>For a socket path this listener bound, or one inherited as descriptor 0, it is a JDK channel.
   * For an abstract name or a socket adopted from descriptor 3 (systemd, the broker's hand-off) it is
   * junixsocket's, which registers only with selectors of its own provider: open one with
   * {@code channel().provider().openSelector()}; for Netty on such a listener use
   * {@link #duplicateDescriptor()} and the epoll transport.
   *
   * <p>The channel stays this listener's. Connections accepted from it directly are not peer-checked
   * (see {@link #admit(SocketChannel)}). End it with {@link #close()}, not by closing the channel:
   * {@code close()} removes the socket file while still listening, which is what keeps it from
   * removing a successor's. (Netty's NIO server channel removes the file at the path when it closes
   * the channel, whoever made it: close this listener before shutting Netty down.)
   *
   * @return the same channel on every call, open until this listener is closed
   */
  ServerSocketChannel channel();

  /**
   * A new descriptor for the listening socket, owned by the caller: for native transports that take
   * a descriptor number, such as Netty's epoll ({@code new EpollServerDomainSocketChannel(fd, true)}).
   *
   * <p>It is a duplicate ({@code dup(2)}) of this listener's own descriptor, so that whoever closes it
   * (Netty does when its channel closes) never closes a number this listener still uses. The socket
   * listens until both are closed: shut the stack down as well as closing this listener. Its file
   * stays this listener's, removed by {@link #close()} as usual; Netty's epoll channel on an adopted
   * descriptor leaves the file alone.
   *
   * <p>The socket is put in non-blocking mode, which every descriptor of it shares and which native
   * event loops need; {@link #accept()} then returns null when nothing waits. Call this before
   * serving, not while another thread waits in {@code accept()}.
   *
   * <p><b>Cost</b>, paid here and never by bind or accept. The duplicate is made by junixsocket, so
   * the first call in a JVM loads its native library unless something already has (an abstract or
   * adopted listener has): about 150-220 ms measured here on JDK 17 and 25, the one-time cost of
   * junixsocket's first use. For a JDK channel, whose descriptor number the JDK does not reveal, the
   * number is then found in procfs: the socket's inode in {@code /proc/net/unix} (a read that grows
   * with the machine's Unix sockets; 0.1 ms with a dozen), then the descriptor linking to it in
   * {@code /proc/self/fd} (one {@code readlink} per open descriptor of the process). Later calls took
   * 0.5-1.4 ms in all. Linux only, like the epoll transport.
   *
   * @return a descriptor number the caller owns and must close (or hand to a stack that will)
   * @throws java.nio.channels.ClosedChannelException if this listener is closed
   * @throws IOException if procfs cannot show the socket's descriptor (not Linux, or another listening
   *     socket of this process is bound to the same path) or junixsocket cannot duplicate it here
   */
  int duplicateDescriptor() throws IOException;

  /**
   * The peer check {@link #accept()} makes, for a stack that accepts connections itself: whether
   * {@code connection}'s peer runs as this process's user, read from the kernel's peer credentials. A
   * connection from any other user, or whose credentials cannot be read, is closed, counted in
   * {@link #rejectedPeers()} and logged (at a bounded rate), and false is returned.
   *
   * <p>For connections accepted from {@link #channel()} by a {@code Selector} loop or a similar stack.
   * Not calling it serves every user who can reach the endpoint: the caller's choice to make.
   *
   * @param connection a connection accepted from this listener's socket
   * @return true if the peer is this user and the connection may be served
   */
  boolean admit(SocketChannel connection);

  /**
   * The peer check for stacks that report the peer as a user: Netty's NIO transport, whose child
   * channels give it as {@code ch.config().getOption(NioChannelOption.of(ExtendedSocketOptions.SO_PEERCRED)).user()}.
   * Another user is counted in {@link #rejectedPeers()} and logged, and false is returned; closing the
   * connection is then the caller's part, since its stack owns it.
   *
   * @param peer the user the connection's peer runs as
   * @return true if {@code peer} is this process's user
   */
  boolean admit(UserPrincipal peer);

  /**
   * The peer check for stacks that report the peer's uid: Netty's epoll transport, whose child channels
   * give it as {@code ((EpollDomainSocketChannel) ch).peerCredentials().uid()}. Another uid is counted in
   * {@link #rejectedPeers()} and logged, and false is returned; closing the connection is then the
   * caller's part.
   *
   * @param uid the peer's user id, from the kernel's peer credentials
   * @return true if {@code uid} is this process's uid
   */
  boolean admitUid(long uid);

  /**
   * How many connections {@link #accept()} closed, or an {@code admit} method refused, because their
   * peer was another user.
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
