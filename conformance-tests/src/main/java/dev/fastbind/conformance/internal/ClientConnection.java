package dev.fastbind.conformance.internal;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * One connection the kit made, as its client sees it: how many bytes arrived and how it ended. The
 * hand-off rules tell a connection the daemon closed (the end of stream, after an answer or none)
 * from one that was reset: the kernel resets the connections waiting in the backlog of a socket
 * whose last holder closed it, and a connection closed with bytes unread. So the rules' clients
 * send nothing a daemon could leave unread unless they mean to: a reset then always means a lost
 * connection.
 *
 * <p>Not thread-safe; one thread uses a connection.
 */
public final class ClientConnection implements AutoCloseable {

  /** How a connection has ended so far. */
  public enum Ending {
    /** Not ended yet. */
    OPEN,
    /** The daemon closed it: the end of stream, after whatever it sent. */
    CLOSED,
    /** Reset: dropped from a closed listener's backlog, or closed by the daemon with bytes unread. */
    RESET
  }

  private final SocketChannel channel;
  private final ByteBuffer buffer = ByteBuffer.allocate(512);
  private long received;
  private Ending ending = Ending.OPEN;
  private String resetBy = "";

  private ClientConnection(SocketChannel channel) {
    this.channel = channel;
  }

  /**
   * Connects to the socket file {@code path} (a blocking connect: it waits while the backlog is
   * full) and switches to non-blocking reads.
   *
   * @throws IOException if the connection is refused: nothing listens there, or no file is there
   */
  public static ClientConnection open(Path path) throws IOException {
    SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      c.connect(UnixDomainSocketAddress.of(path));
      c.configureBlocking(false);
      return new ClientConnection(c);
    } catch (IOException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /** The bytes received so far. */
  public long received() {
    return received;
  }

  /** How the connection has ended so far. */
  public Ending ending() {
    return ending;
  }

  /** What the reset said, empty unless {@link #ending()} is {@link Ending#RESET}. */
  public String resetBy() {
    return resetBy;
  }

  /**
   * Sends one byte ({@code \n}, the kit's request).
   *
   * @throws IOException if the daemon already closed its side (a broken pipe)
   */
  public void sendNewline() throws IOException {
    ByteBuffer b = ByteBuffer.wrap(new byte[] {'\n'});
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }

  /**
   * Ends the client's output: the daemon reads the end of stream.
   *
   * @throws IOException if the daemon already closed its side
   */
  public void endOutput() throws IOException {
    channel.shutdownOutput();
  }

  /** Reads whatever has arrived, without waiting, and returns how the connection has ended so far. */
  public Ending poll() {
    while (ending == Ending.OPEN) {
      buffer.clear();
      int n;
      try {
        n = channel.read(buffer);
      } catch (IOException e) {
        ending = Ending.RESET;
        resetBy = String.valueOf(e.getMessage());
        break;
      }
      if (n < 0) {
        ending = Ending.CLOSED;
      } else if (n == 0) {
        break;
      } else {
        received += n;
      }
    }
    return ending;
  }

  /** Waits until the connection ends or {@code timeoutNanos} pass; returns how it has ended. */
  public Ending awaitEnd(long timeoutNanos) throws IOException {
    long end = System.nanoTime() + timeoutNanos;
    try (Selector selector = Selector.open()) {
      channel.register(selector, SelectionKey.OP_READ);
      while (poll() == Ending.OPEN) {
        long left = end - System.nanoTime();
        if (left <= 0) {
          break;
        }
        selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(Math.min(left, 200_000_000L))));
        selector.selectedKeys().clear();
      }
    }
    return ending;
  }

  /** "closed after 3 bytes", "reset (Connection reset by peer) after 0 bytes", "still open": for messages. */
  public String describe() {
    return switch (ending) {
      case OPEN -> "still open after " + received + " bytes";
      case CLOSED -> "closed by the daemon after " + received + " bytes";
      case RESET -> "reset (" + resetBy + ") after " + received + " bytes";
    };
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
