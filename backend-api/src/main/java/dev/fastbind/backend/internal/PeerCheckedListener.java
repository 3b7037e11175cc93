package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What every {@link IpcListener} shares: an accept loop that hands the daemon only connections from
 * its own user, and an idempotent close. Subclasses say how to read a peer's user from their kind of
 * channel and what else closing means (unlinking a socket file).
 */
abstract class PeerCheckedListener implements IpcListener {
  /** Created on the first rejected peer, so that binding never initialises the logging framework. */
  private static final class Log {
    static final System.Logger LOG = System.getLogger(IpcListener.class.getName());
  }

  private final Endpoint endpoint;
  private final ServerSocketChannel channel;
  private final boolean inherited;
  private final AtomicLong rejected = new AtomicLong();
  private final AtomicBoolean closed = new AtomicBoolean();

  PeerCheckedListener(Endpoint endpoint, ServerSocketChannel channel, boolean inherited) {
    this.endpoint = endpoint;
    this.channel = channel;
    this.inherited = inherited;
  }

  /**
   * Empty if {@code connection}'s peer runs as this process's user; otherwise a description of the
   * peer for the log ("user nobody", "uid 65534", "a peer whose credentials cannot be read").
   */
  abstract Optional<String> foreignPeer(SocketChannel connection);

  /** Called once, after the channel is closed. */
  void afterClose() throws IOException {}

  @Override
  public final Endpoint endpoint() {
    return endpoint;
  }

  @Override
  public final SocketChannel accept() throws IOException {
    while (true) {
      SocketChannel connection = channel.accept();
      Optional<String> foreign = foreignPeer(connection);
      if (foreign.isEmpty()) {
        connection.configureBlocking(true);
        return connection;
      }
      rejected.incrementAndGet();
      Log.LOG.log(System.Logger.Level.WARNING, "rejected a connection on " + endpoint + " from " + foreign.get()
          + ": only the daemon's own user may connect");
      Listeners.closeQuietly(connection);
    }
  }

  @Override
  public final long rejectedPeers() {
    return rejected.get();
  }

  @Override
  public final boolean isInherited() {
    return inherited;
  }

  @Override
  public final boolean isOpen() {
    return channel.isOpen();
  }

  @Override
  public final void close() throws IOException {
    if (closed.compareAndSet(false, true)) {
      channel.close();
      afterClose();
    }
  }

  @Override
  public final String toString() {
    return "IpcListener[" + endpoint + (inherited ? ", inherited" : "") + "]";
  }
}
