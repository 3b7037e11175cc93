package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Set;
import java.util.TreeMap;

/**
 * A listener on a JDK Unix-domain {@link ServerSocketChannel}: the fast path for socket files. Its
 * close unlinks the socket file only while the file is still the one it bound (same file key), and
 * does so while it still listens: a binder that finds the path taken probes it, and a listening
 * socket is never treated as dead, so no successor can have replaced the file between the check and
 * the unlink.
 *
 * <p><b>Its descriptor.</b> The JDK does not reveal a channel's descriptor number (it is a private
 * field of a {@code sun.nio.ch} class, reachable only with {@code --add-opens}), so
 * {@link #duplicate} finds it as the kernel shows it: {@code /proc/net/unix} lists the inode of the
 * socket listening at this listener's path, and the entry of {@code /proc/self/fd} that links to
 * {@code socket:[inode]} is a descriptor of it. Any descriptor of the socket will do, since the
 * caller gets a duplicate (an inherited channel has two: descriptor 0 and the JDK's own duplicate of
 * it). Another listening socket of this process bound to the same path (possible only after its
 * file was deleted and bound anew) makes the answer ambiguous, and is refused rather than guessed.
 */
final class JdkUnixListener extends PeerCheckedListener {
  private final Path path;
  private final Object fileKey;
  private volatile boolean keepFile;

  /**
   * {@code fileKey} is null for a listener inherited from systemd or inetd, whose file is never
   * unlinked; a listener handed off by the broker that bound it owns its file and has a key.
   */
  JdkUnixListener(Endpoint endpoint, ServerSocketChannel channel, Path path, Object fileKey, boolean inherited) {
    super(endpoint, channel, inherited);
    this.path = path;
    this.fileKey = fileKey;
  }

  @Override
  int duplicate(ServerSocketChannel channel) throws IOException {
    Set<Long> listening = SocketHolders.listeningInodes(endpoint());
    // inode -> the lowest descriptor of this process on that socket
    TreeMap<Long, Integer> ours = new TreeMap<>();
    Path fds = Path.of("/proc/self/fd");
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(fds)) {
      for (Path entry : entries) {
        String target;
        int fd;
        try {
          fd = Integer.parseInt(entry.getFileName().toString());
          target = Files.readSymbolicLink(entry).toString();
        } catch (IOException | NumberFormatException closedMeanwhile) {
          continue; // the directory stream's own descriptor, or one closed while listing
        }
        if (target.startsWith("socket:[") && target.endsWith("]")) {
          long inode = Long.parseLong(target.substring(8, target.length() - 1));
          if (listening.contains(inode)) {
            ours.merge(inode, fd, Math::min);
          }
        }
      }
    } catch (IOException e) {
      throw new IOException("cannot list this process's descriptors in " + fds + " to find the one of " + this
          + " (a listener's descriptor is found through procfs, so this needs Linux)", e);
    }
    if (ours.isEmpty()) {
      throw new IOException("procfs shows no descriptor of this process listening at " + endpoint()
          + " (" + (listening.isEmpty() ? "/proc/net/unix lists no listening socket there" : "sockets "
          + listening + " listen there, none of them in /proc/self/fd") + "); was the listener closed?");
    }
    if (ours.size() > 1) {
      throw new IOException("this process holds " + ours.size() + " listening sockets bound at " + endpoint()
          + " (inodes " + ours.keySet() + ": its socket file was deleted and bound again), so procfs cannot tell"
          + " which is " + this + "; close the other listener or bind another path");
    }
    long inode = ours.firstKey();
    return Junix.duplicate(ours.get(inode), inode);
  }

  /**
   * From now on close leaves the socket file in place: the listening socket was handed to a
   * successor, which serves the same file.
   */
  void keepSocketFile() {
    keepFile = true;
  }

  @Override
  void beforeClose() throws IOException {
    if (fileKey == null || keepFile) {
      return;
    }
    try {
      BasicFileAttributes now = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (fileKey.equals(now.fileKey())) {
        Files.deleteIfExists(path);
      }
    } catch (NoSuchFileException alreadyGone) {
      // nothing to remove
    }
  }
}
