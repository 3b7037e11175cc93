package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import java.util.Optional;
import jdk.net.ExtendedSocketOptions;

/**
 * A listener on a JDK Unix-domain {@link ServerSocketChannel}: the fast path for socket files. Its
 * close unlinks the socket file only while the file is still the one it bound (same file key), and
 * does so while it still listens: a binder that finds the path taken probes it, and a listening
 * socket is never treated as dead, so no successor can have replaced the file between the check and
 * the unlink.
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
  Optional<String> foreignPeer(SocketChannel connection) {
    try {
      UserPrincipal peer = connection.getOption(ExtendedSocketOptions.SO_PEERCRED).user();
      return peer.equals(Peers.currentUser()) ? Optional.empty() : Optional.of("user " + peer.getName());
    } catch (IOException | UnsupportedOperationException e) {
      return Optional.of("a peer whose credentials cannot be read (" + e + ")");
    }
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
