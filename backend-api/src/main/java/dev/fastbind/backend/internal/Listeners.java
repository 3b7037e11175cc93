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
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
   * A file already stands at the path. If it is a socket nobody has bound, delete it so the caller
   * can bind again; if a live or half-started listener holds it, report
   * {@link BindException.AlreadyBound}; anything else (a regular file, a directory, a symlink) is
   * never deleted.
   *
   * <p><b>The bind is the election.</b> When daemons start at once on one endpoint, each calls
   * {@code bind(2)}: exactly one creates the socket file, the others get {@code EADDRINUSE} and come
   * here. The winner may still be between {@code bind(2)} and {@code listen(2)} (microseconds that a
   * busy machine stretches to milliseconds), and a socket bound but not yet listening refuses a
   * connect exactly as a dead one does. Deleting it on the probe alone would let a loser bind a second
   * file while the winner listens on an unlinked inode nobody can reach (and the loser's close would
   * later remove the only file left). So a refused probe is checked against the kernel's own table
   * of bound sockets ({@code /proc/net/unix}, Linux): while any socket is bound to this path the file
   * is kept and the bind fails with {@code AlreadyBound}. Only a file that no socket holds is removed,
   * and {@link #removeIfStill} makes sure it is still that file.
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
      SocketTable.State held = SocketTable.stateOf(path);
      if (held == SocketTable.State.BOUND) {
        // Half-started: the winner of the bind has not called listen() yet. It will in a moment;
        // wait (bounded, this bind has lost anyway) only to name it.
        throw new BindException.AlreadyBound(endpoint.toString(), Junix.holderPidOnceListening(path));
      }
      if (held == SocketTable.State.LISTENING) {
        // Listening on this path but refusing: a listener whose file was replaced, so another inode
        // answers the name; it is alive, and the file is left alone.
        throw new BindException.AlreadyBound(endpoint.toString(), -1);
      }
      try {
        removeIfStill(path, attributes.fileKey());
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

  /**
   * Removes the dead socket file at {@code path} if it is still the file whose key was probed.
   *
   * <p>Checking the key and then unlinking the path leaves a window in which another reclaimer may
   * remove the same dead file and bind its own: the unlink would then take a live successor's file.
   * So the file is first renamed aside (atomic: whatever stood at the path is now at a private name),
   * its key checked there, and only a match is deleted; a mismatch (a successor's file) is linked
   * back to the path, which fails rather than overwrite if yet another file stands there.
   */
  static void removeIfStill(Path path, Object probedKey) throws IOException {
    if (probedKey == null) {
      Files.deleteIfExists(path); // no file keys on this file system: the check cannot be made
      return;
    }
    Path aside = path.resolveSibling("." + path.getFileName() + ".stale-" + ProcessHandle.current().pid()
        + "-" + Long.toHexString(System.nanoTime()));
    Files.move(path, aside, StandardCopyOption.ATOMIC_MOVE);
    Object moved = Files.readAttributes(aside, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
    if (probedKey.equals(moved)) {
      Files.delete(aside);
      return;
    }
    try {
      Files.createLink(path, aside);
      Files.delete(aside);
    } catch (FileAlreadyExistsException third) {
      // A third binder already holds the path; the successor's file stays at its private name,
      // reachable for whoever looks, rather than be deleted.
    }
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
