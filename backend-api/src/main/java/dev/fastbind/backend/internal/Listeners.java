package dev.fastbind.backend.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;

/**
 * Factories for {@link IpcListener}.
 *
 * <p>Socket paths are bound with the JDK's own Unix-domain channels: they bind in a few microseconds
 * and load no native library. junixsocket is touched only for what the JDK cannot do (abstract names,
 * adopting an inherited descriptor, learning the pid that holds an endpoint), and only when that is
 * asked for, so a plain daemon never pays its 100 ms first-use cost before its endpoint exists.
 */
public final class Listeners {

  /** Accept backlog requested at bind; the kernel caps it at {@code net.core.somaxconn}. */
  static final int BACKLOG = 1024;

  private Listeners() {}

  /** See {@link IpcListener#bind(Endpoint)}. */
  public static IpcListener bind(Endpoint endpoint) throws BindException {
    if (endpoint.kind() == Endpoint.Kind.ABSTRACT) {
      return Junix.bindAbstract(endpoint);
    }
    Path path = endpoint.path().orElseThrow();
    ServerSocketChannel channel = bindPath(endpoint, path);
    Object fileKey;
    try {
      Files.setPosixFilePermissions(path, EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE));
      fileKey = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
    } catch (IOException | UnsupportedOperationException e) {
      closeQuietly(channel);
      try {
        Files.deleteIfExists(path);
      } catch (IOException ignored) {
        // the bind itself failed to complete; nothing of ours worth reporting remains
      }
      throw new BindException.Io(endpoint.toString(), "cannot make the socket file owner-only",
          e instanceof IOException io ? io : new IOException(e));
    }
    return new JdkUnixListener(endpoint, channel, path, fileKey, false);
  }

  /**
   * Wraps a listening JDK Unix-domain channel that this process inherited (inetd style, fd 0).
   * The socket file is never removed by the returned listener: whoever bound it owns it.
   */
  public static IpcListener adoptJdk(ServerSocketChannel channel) throws IOException {
    if (!(channel.getLocalAddress() instanceof UnixDomainSocketAddress address)) {
      throw new IOException("the inherited listener is not a Unix-domain socket but "
          + channel.getLocalAddress() + "; fastbind daemons listen on Unix-domain sockets");
    }
    Endpoint endpoint = Endpoint.unixPath(address.getPath());
    return new JdkUnixListener(endpoint, channel, address.getPath(), null, true);
  }

  private static ServerSocketChannel bindPath(Endpoint endpoint, Path path) throws BindException {
    for (int attempt = 0; ; attempt++) {
      ServerSocketChannel channel = openUnix(endpoint);
      try {
        channel.bind(UnixDomainSocketAddress.of(path), BACKLOG);
        return channel;
      } catch (IOException e) {
        closeQuietly(channel);
        if (!isAddressInUse(e) || attempt > 0) {
          if (isAddressInUse(e)) {
            throw new BindException.AlreadyBound(endpoint.toString(), Junix.holderPid(path));
          }
          throw new BindException.Io(endpoint.toString(), describeBindFailure(path), e);
        }
        reclaimIfStale(endpoint, path);
      }
    }
  }

  /**
   * A file already stands at the path. If it is a socket nobody listens on, delete it so the caller
   * can bind again; if it is a live socket, report {@link BindException.AlreadyBound}; anything else
   * (a regular file, a directory, a symlink) is never deleted.
   */
  private static void reclaimIfStale(Endpoint endpoint, Path path) throws BindException {
    BasicFileAttributes attributes;
    try {
      attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException gone) {
      return; // removed since our bind failed: just bind again
    } catch (IOException e) {
      throw new BindException.Io(endpoint.toString(), "cannot inspect the existing file at the socket path", e);
    }
    if (attributes.isSymbolicLink()) {
      throw new BindException.InvalidEndpoint(endpoint.toString(),
          "a symbolic link stands at the socket path; fastbind never follows or deletes it: remove it by hand");
    }
    if (!attributes.isOther()) {
      throw new BindException.InvalidEndpoint(endpoint.toString(), "a "
          + (attributes.isDirectory() ? "directory" : "regular file")
          + " stands at the socket path; fastbind only ever replaces a dead socket file: move it away or choose another path");
    }
    // Non-blocking: a blocking connect to a listener whose backlog is full (a stopped daemon) waits
    // for as long as it stays stopped, and bind must never wait.
    try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      probe.configureBlocking(false);
      probe.connect(UnixDomainSocketAddress.of(path));
    } catch (ConnectException refused) {
      try {
        Object probed = attributes.fileKey();
        Object now = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        if (probed == null || probed.equals(now)) {
          Files.deleteIfExists(path);
        }
      } catch (NoSuchFileException gone) {
        // someone else reclaimed it first
      } catch (IOException e) {
        throw new BindException.Io(endpoint.toString(), "cannot remove the stale socket file left by a dead daemon", e);
      }
      return;
    } catch (IOException e) {
      if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
        return; // removed since: just bind again
      }
      // EAGAIN, told by type and not by the (translated) message: a live listener whose backlog is
      // full. Asking it for its pid would wait on that backlog too, so the holder stays unnamed.
      throw new BindException.AlreadyBound(endpoint.toString(), -1);
    }
    throw new BindException.AlreadyBound(endpoint.toString(), Junix.holderPid(path));
  }

  private static ServerSocketChannel openUnix(Endpoint endpoint) throws BindException {
    try {
      return ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    } catch (IOException e) {
      throw new BindException.Io(endpoint.toString(), "cannot create a Unix-domain socket", e);
    } catch (UnsupportedOperationException e) {
      throw new BindException.Other(endpoint.toString(), "this JDK or OS has no Unix-domain socket channels", e);
    }
  }

  private static String describeBindFailure(Path path) {
    Path parent = path.getParent();
    if (parent != null && !Files.isDirectory(parent)) {
      return "the directory " + parent + " does not exist";
    }
    if (parent != null && !Files.isWritable(parent)) {
      return "the directory " + parent + " is not writable by this user";
    }
    return "the operating system refused";
  }

  static boolean isAddressInUse(IOException e) {
    if (e instanceof java.net.BindException) {
      return true;
    }
    String message = e.getMessage();
    return message != null && message.contains("Address already in use");
  }

  static void closeQuietly(java.io.Closeable closeable) {
    try {
      closeable.close();
    } catch (IOException ignored) {
      // closing a socket we are abandoning; nothing useful to report
    }
  }
}
