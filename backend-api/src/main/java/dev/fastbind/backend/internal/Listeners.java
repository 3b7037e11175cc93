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
      Listeners.closeQuietly(channel);
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

  /**
   * Wraps a listening JDK channel handed off to this process ({@link Handoff}) by the broker that
   * bound it at {@code path}. The daemon owns the socket file from now on: its close removes the file
   * while it is still the one with {@code fileKey}.
   */
  static IpcListener adoptHandedOff(ServerSocketChannel channel, Endpoint endpoint, Path path, Object fileKey) {
    return new JdkUnixListener(endpoint, channel, path, fileKey, true);
  }

  /**
   * Makes {@code listener}'s close leave its socket file in place, when it is one that would remove
   * it: the listening socket was handed off and its new holder serves the file.
   */
  public static void keepSocketFile(IpcListener listener) {
    if (listener instanceof JdkUnixListener jdk) {
      jdk.keepSocketFile();
    }
  }

  /** How many times a bind is tried after finding a dead socket file at its path and removing it. */
  private static final int BIND_ATTEMPTS = 3;

  private static ServerSocketChannel bindPath(Endpoint endpoint, Path path) throws BindException {
    for (int attempt = 1; ; attempt++) {
      ServerSocketChannel channel = openUnix(endpoint);
      try {
        channel.bind(UnixDomainSocketAddress.of(path), BACKLOG);
        return channel;
      } catch (IOException e) {
        Listeners.closeQuietly(channel);
        if (!isAddressInUse(e)) {
          throw new BindException.Io(endpoint.toString(), describeBindFailure(path), e);
        }
        if (attempt == BIND_ATTEMPTS) {
          // Dead files removed and rebound twice, and still taken: others won each time.
          throw new BindException.AlreadyBound(endpoint.toString(), Junix.holderPidOnceListening(path));
        }
        reclaimIfStale(endpoint, path); // throws AlreadyBound if something lives there
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
      SocketHolders.BindState held = SocketHolders.stateOf(path);
      if (held == SocketHolders.BindState.BOUND || held == SocketHolders.BindState.LISTENING) {
        // Half-started: the winner of the bind had not called listen() at our probe (it may have
        // by now). Wait (bounded; this bind has lost anyway) only to name it. A listener whose file
        // was replaced by a dead one also lands here: alive, so the file is left alone, unnamed.
        throw new BindException.AlreadyBound(endpoint.toString(), Junix.holderPidOnceListening(path));
      }
      try {
        removeIfStill(path, attributes);
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
    // A lost bind: asking the holder for its pid may meet a transient failure (its backlog briefly
    // full of other losers' probes, the native library's first load); retry, bounded, to name it.
    throw new BindException.AlreadyBound(endpoint.toString(), Junix.holderPidOnceListening(path));
  }

  /** How old a reclaim claim must be before another binder treats its claimant as dead. */
  private static final long STALE_CLAIM_MILLIS = 10_000;

  /**
   * Removes the dead socket file at {@code path} if it is still the file whose key was probed, and
   * never a successor's.
   *
   * <p>Checking the key and then unlinking the path leaves a window in which another binder that
   * found the same dead file removes it and binds its own, which the unlink would then take. Moving
   * the file aside first to check it there opens a worse one: for a moment the path is empty and a
   * third binder wins it too. So binders that find the same dead file first elect one remover with a
   * create-if-absent that the file system makes atomic: a hard link named after the dead file's
   * device and inode ({@code .NAME.reclaim-dev-D-ino-I} next to it). Exactly one {@code link(2)}
   * succeeds. The winner checks that its link is the dead file (not a successor's that took the
   * path meanwhile, even one that reuses the dead file's inode number: see {@link #sameFile}; then
   * it removes only its link and binds again, to find the successor), unlinks
   * the path, then its link. The path can change under it only if it is unlinked, and only the
   * elected remover unlinks it. Others see the claim exist and simply bind again.
   *
   * <p>A claimant killed inside those few microseconds leaves its link; a claim older than
   * {@value #STALE_CLAIM_MILLIS} ms is taken for dead and removed by the next binder.
   */
  static void removeIfStill(Path path, BasicFileAttributes probed) throws IOException {
    Object probedKey = probed.fileKey();
    if (probedKey == null) {
      Files.deleteIfExists(path); // no file keys on this file system: the check cannot be made
      return;
    }
    Path claim = path.resolveSibling("." + path.getFileName() + ".reclaim-" + keyName(probedKey));
    try {
      Files.createLink(claim, path);
    } catch (FileAlreadyExistsException taken) {
      // link(2) sets the inode's change time: it says when the claim was made.
      java.nio.file.attribute.FileTime made = (java.nio.file.attribute.FileTime) Files.getAttribute(claim,
          "unix:ctime", LinkOption.NOFOLLOW_LINKS);
      BasicFileAttributes claimed = Files.readAttributes(claim, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (System.currentTimeMillis() - made.toMillis() > STALE_CLAIM_MILLIS && sameFile(probed, claimed)) {
        Files.deleteIfExists(claim); // its claimant died mid-reclaim; the next attempt claims anew
      }
      return; // another binder is removing it: bind again
    } catch (UnsupportedOperationException | java.nio.file.FileSystemException noLinks) {
      if (noLinks instanceof NoSuchFileException) {
        throw (NoSuchFileException) noLinks;
      }
      Files.deleteIfExists(path); // a file system without hard links: the check cannot be made
      return;
    }
    try {
      BasicFileAttributes claimed = Files.readAttributes(claim, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (sameFile(probed, claimed)) {
        Files.deleteIfExists(path);
      }
    } finally {
      Files.deleteIfExists(claim);
    }
  }

  /**
   * Whether two looks at a path saw the same file: same device and inode, and the same modification
   * time. Inode numbers are reused (ext4 hands a freed one to the next file at once), so a successor's
   * socket can have the dead one's inode; a socket's modification time is set when it is bound and
   * changed by neither link(2) nor chmod, so the pair tells them apart.
   */
  private static boolean sameFile(BasicFileAttributes a, BasicFileAttributes b) {
    return a.fileKey().equals(b.fileKey()) && a.lastModifiedTime().equals(b.lastModifiedTime());
  }

  /** {@code (dev=803,ino=1234)} as {@code dev-803-ino-1234}: a file-name-safe form of a file key. */
  private static String keyName(Object key) {
    String text = key.toString();
    StringBuilder b = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
        b.append(c);
      } else if (b.length() > 0 && b.charAt(b.length() - 1) != '-') {
        b.append('-');
      }
    }
    int end = b.length();
    while (end > 0 && b.charAt(end - 1) == '-') {
      end--;
    }
    return b.substring(0, end);
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

  /**
   * Closes {@code closeable}, ignoring an {@link IOException}: the caller is abandoning it (a socket
   * on a failure path, a connection it is done with, a read-only procfs file), so there is nothing
   * useful to report and the original outcome must not be replaced. Null is ignored. The SDK's one
   * such helper, kept here because this class is loaded by every bind and adoption: a daemon out of
   * descriptors cannot load a new class, and its clean-up must still close its sockets.
   */
  public static void closeQuietly(java.io.Closeable closeable) {
    if (closeable == null) {
      return;
    }
    try {
      closeable.close();
    } catch (IOException ignored) {
      // abandoned: see the method doc
    }
  }
}
