package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/** An {@link IpcListener} on a JDK Unix-domain {@link ServerSocketChannel}. */
final class JdkUnixListener implements IpcListener {
  private static final System.Logger LOG = System.getLogger(JdkUnixListener.class.getName());

  private final Endpoint endpoint;
  private final ServerSocketChannel channel;
  private final Path path;
  private final Object fileKey;
  private final boolean inherited;
  private final AtomicLong rejected = new AtomicLong();
  private final AtomicBoolean closed = new AtomicBoolean();

  JdkUnixListener(Endpoint endpoint, ServerSocketChannel channel, Path path, Object fileKey, boolean inherited) {
    this.endpoint = endpoint;
    this.channel = channel;
    this.path = path;
    this.fileKey = fileKey;
    this.inherited = inherited;
  }

  @Override
  public Endpoint endpoint() {
    return endpoint;
  }

  @Override
  public SocketChannel accept() throws IOException {
    while (true) {
      SocketChannel connection = channel.accept();
      UserPrincipal peer;
      try {
        UnixDomainPrincipal credentials = connection.getOption(ExtendedSocketOptions.SO_PEERCRED);
        peer = credentials.user();
      } catch (IOException | UnsupportedOperationException e) {
        LOG.log(System.Logger.Level.WARNING, "closing a connection on {0}: cannot read its peer credentials ({1})",
            endpoint, e.toString());
        rejected.incrementAndGet();
        Listeners.closeQuietly(connection);
        continue;
      }
      if (peer.equals(Peers.currentUser())) {
        return connection;
      }
      rejected.incrementAndGet();
      LOG.log(System.Logger.Level.WARNING, "rejected a connection on {0} from user {1}: only {2} may connect",
          endpoint, peer.getName(), Peers.currentUser().getName());
      Listeners.closeQuietly(connection);
    }
  }

  @Override
  public long rejectedPeers() {
    return rejected.get();
  }

  @Override
  public boolean isInherited() {
    return inherited;
  }

  @Override
  public boolean isOpen() {
    return channel.isOpen();
  }

  @Override
  public void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    channel.close();
    if (inherited || fileKey == null) {
      return;
    }
    try {
      BasicFileAttributes now = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (fileKey.equals(now.fileKey())) {
        Files.deleteIfExists(path);
      }
    } catch (java.nio.file.NoSuchFileException alreadyGone) {
      // nothing to remove
    }
  }

  @Override
  public String toString() {
    return "IpcListener[" + endpoint + (inherited ? ", inherited" : "") + "]";
  }
}
