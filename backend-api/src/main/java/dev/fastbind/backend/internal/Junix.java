package dev.fastbind.backend.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Optional;
import org.newsclub.net.unix.AFUNIXServerSocketChannel;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.AFUNIXSocketChannel;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * Everything that needs junixsocket, kept in one class so its native library loads only when one of
 * these methods is first called: abstract names, adopting descriptor 3, learning who holds an
 * endpoint, peer credentials on junixsocket's connections, and duplicating a listener's descriptor.
 */
final class Junix {
  private Junix() {}

  static IpcListener bindAbstract(Endpoint endpoint) throws BindException {
    String name = endpoint.abstractName().orElseThrow();
    AFUNIXServerSocketChannel channel;
    try {
      channel = AFUNIXServerSocketChannel.open();
      // junixsocket's default SO_REUSEADDR emulation replaces a live listener; never do that.
      channel.socket().setReuseAddress(false);
    } catch (IOException e) {
      throw new BindException.Io(endpoint.toString(), "cannot create a junixsocket channel", e);
    } catch (RuntimeException | LinkageError e) {
      throw new BindException.Other(endpoint.toString(), "junixsocket is not usable on this platform", e);
    }
    try {
      channel.bind(AFUNIXSocketAddress.inAbstractNamespace(name), Listeners.BACKLOG);
    } catch (IOException e) {
      Listeners.closeQuietly(channel);
      if (Listeners.isAddressInUse(e)) {
        throw new BindException.AlreadyBound(endpoint.toString(), -1);
      }
      throw new BindException.Io(endpoint.toString(), "the operating system refused", e);
    }
    return new JunixListener(endpoint, channel, false);
  }

  /**
   * Adopts a listening Unix-domain socket at descriptor {@code fd} (systemd's protocol passes the
   * first one at 3). Fails with a clear message when the descriptor is not such a socket.
   */
  static IpcListener adoptDescriptor(int fd) throws IOException {
    String what = describeDescriptor(fd);
    if (!what.startsWith("another kind of socket") && !what.startsWith("something else")) {
      // Told by procfs alone: no native library loaded (and no JVM warning printed) to report it.
      throw new IOException("inherited descriptor " + fd + " (LISTEN_FDS) is not a listening Unix-domain socket but "
          + what + "; configure the socket unit with ListenStream=/path/to/socket");
    }
    FileDescriptorCast cast = FileDescriptorCast.unsafeUsing(fd);
    if (!cast.isAvailable(AFUNIXServerSocketChannel.class)) {
      throw new IOException("inherited descriptor " + fd + " (LISTEN_FDS) is not a listening Unix-domain socket but "
          + describeDescriptor(fd) + "; configure the socket unit with ListenStream=/path/to/socket");
    }
    AFUNIXServerSocketChannel channel = cast.as(AFUNIXServerSocketChannel.class);
    channel.setDeleteOnClose(false); // the socket file belongs to whoever bound it
    AFUNIXSocketAddress address = channel.getLocalAddress();
    Endpoint endpoint = address == null ? null
        : address.isInAbstractNamespace()
            ? Endpoint.abstractName(new String(address.getPathAsBytes(), 1, address.getPathAsBytes().length - 1,
                java.nio.charset.StandardCharsets.UTF_8))
            : Endpoint.unixPath(Path.of(address.getPath()));
    if (endpoint == null) {
      throw new IOException("inherited descriptor " + fd + " is a Unix-domain socket without an address");
    }
    return new JunixListener(endpoint, channel, true);
  }

  /** What descriptor {@code fd} of this process is, in words, from procfs: "a pipe", "the file /dev/null". */
  static String describeDescriptor(int fd) {
    String target;
    try {
      target = java.nio.file.Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
    } catch (java.nio.file.NoSuchFileException e) {
      return "not open at all";
    } catch (IOException | RuntimeException e) {
      return "something else (procfs cannot say what)";
    }
    if (target.startsWith("socket:")) {
      return "another kind of socket (TCP, datagram, or not listening)";
    }
    if (target.startsWith("pipe:")) {
      return "a pipe";
    }
    if (target.startsWith("anon_inode:")) {
      return "an anonymous inode (" + target.substring("anon_inode:".length()) + ")";
    }
    return java.nio.file.Files.isDirectory(Path.of(target)) ? "the directory " + target : "the file " + target;
  }

  /** The pid of the process that accepts connections at {@code path}, or -1 if it cannot be learned. */
  static long holderPid(Path path) {
    try (AFUNIXSocket socket = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(path))) {
      long pid = socket.getPeerCredentials().getPid();
      return pid > 0 ? pid : -1;
    } catch (IOException | RuntimeException | LinkageError e) {
      return -1;
    }
  }

  /**
   * The pid of the process that holds {@code path} once it listens: for a bind that lost to a
   * listener between its {@code bind(2)} and {@code listen(2)}. Retries the look-up for at most
   * {@value #HALF_STARTED_WAIT_MILLIS} ms (1 ms, doubling), then gives up with -1. Only a failed
   * bind waits here, to name its winner; a winning bind never does.
   */
  static long holderPidOnceListening(Path path) {
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(HALF_STARTED_WAIT_MILLIS);
    long pauseNanos = 1_000_000;
    while (true) {
      long pid = holderPid(path);
      long left = deadline - System.nanoTime();
      if (pid > 0 || left <= 0) {
        return pid;
      }
      // No event tells when another process calls listen(); a short, bounded, growing pause.
      java.util.concurrent.locks.LockSupport.parkNanos(Math.min(pauseNanos, left));
      pauseNanos = Math.min(pauseNanos * 2, 50_000_000);
    }
  }

  static final long HALF_STARTED_WAIT_MILLIS = 1000;

  /** {@link PeerCheckedListener#foreignPeer} for a connection that is not a JDK channel. */
  static Optional<String> foreignPeer(SocketChannel connection) {
    if (!(connection instanceof AFUNIXSocketChannel af)) {
      return Optional.of("a peer whose credentials cannot be read (a " + connection.getClass().getName()
          + " is neither a JDK nor a junixsocket Unix-domain channel)");
    }
    try {
      long uid = af.getPeerCredentials().getUid();
      return uid == ProcessIdentity.currentUid() ? Optional.empty() : Optional.of("uid " + uid);
    } catch (IOException | RuntimeException e) {
      return Optional.of("a peer whose credentials cannot be read (" + e + ")");
    }
  }

  /**
   * A duplicate of descriptor {@code fd}, which procfs showed to be socket {@code inode}. Checked
   * again on the duplicate: had the listener been closed since and the number reused, the duplicate
   * is another file, and is closed instead of returned.
   */
  static int duplicate(int fd, long inode) throws IOException {
    FileDescriptorCast copy;
    try {
      // unsafeUsing wraps the number in a bare FileDescriptor: no cleaner, nothing closes it later.
      copy = FileDescriptorCast.duplicating(FileDescriptorCast.unsafeUsing(fd).getFileDescriptor());
    } catch (RuntimeException | LinkageError e) {
      throw new IOException("junixsocket cannot duplicate descriptor " + fd + " on this platform", e);
    }
    int dup = copy.as(Integer.class);
    String target;
    try {
      target = java.nio.file.Files.readSymbolicLink(Path.of("/proc/self/fd/" + dup)).toString();
    } catch (IOException e) {
      target = "unreadable (" + e + ")";
    }
    if (!target.equals("socket:[" + inode + "]")) {
      copy.as(java.io.FileInputStream.class).close();
      throw new java.nio.channels.ClosedChannelException();
    }
    return dup;
  }

  /** A listener on a junixsocket channel: abstract names and adopted descriptors. */
  static final class JunixListener extends PeerCheckedListener {
    JunixListener(Endpoint endpoint, ServerSocketChannel channel, boolean inherited) {
      super(endpoint, channel, inherited);
    }

    @Override
    int duplicate(ServerSocketChannel channel) throws IOException {
      try {
        return FileDescriptorCast.duplicating(((AFUNIXServerSocketChannel) channel).getFileDescriptor())
            .as(Integer.class);
      } catch (RuntimeException | LinkageError e) {
        throw new IOException("junixsocket cannot duplicate the descriptor of " + this, e);
      }
    }
  }
}
