package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.ControlFrames;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.backend.Endpoint;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A hand-driven control-endpoint peer for tests: sends arbitrary bytes and waits, with deadlines,
 * for a reply frame or for the server to close the connection. Reads happen on the test thread
 * through a selector; {@link #send} may be called from another thread.
 */
final class RawPeer implements AutoCloseable {
  private final SocketChannel channel;
  private final Selector selector;
  private final SelectionKey key;
  private final ControlFrames.Decoder decoder = new ControlFrames.Decoder();

  private RawPeer(SocketChannel channel) throws IOException {
    this.channel = channel;
    channel.configureBlocking(false);
    this.selector = channel.provider().openSelector();
    this.key = channel.register(selector, SelectionKey.OP_READ);
  }

  static RawPeer connect(Endpoint endpoint) throws IOException {
    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    ch.connect(UnixDomainSocketAddress.of(endpoint.path().orElseThrow()));
    return new RawPeer(ch);
  }

  void send(byte[] bytes) throws IOException {
    ByteBuffer out = ByteBuffer.wrap(bytes);
    while (out.hasRemaining()) {
      if (channel.write(out) == 0) {
        Thread.yield(); // tests send a few bytes; a full socket buffer is not expected
      }
    }
  }

  void send(ByteBuf frame) throws IOException {
    try {
      byte[] b = new byte[frame.readableBytes()];
      frame.readBytes(b);
      send(b);
    } finally {
      frame.release();
    }
  }

  /** The next frame's payload; fails on EOF or if none arrives within {@code max}. */
  String readFrame(Duration max) throws IOException {
    long end = System.nanoTime() + max.toNanos();
    ByteBuffer in = ByteBuffer.allocate(4096);
    while (true) {
      Optional<String> p = decoder.poll();
      if (p.isPresent()) {
        return p.get();
      }
      in.clear();
      int n = channel.read(in);
      if (n < 0) {
        fail("server closed the connection instead of replying");
      }
      if (n > 0) {
        in.flip();
        decoder.feed(in);
        continue;
      }
      awaitReadable(end, "a reply frame");
    }
  }

  /** Waits until the server closes the connection (EOF or reset); fails after {@code max}. */
  void awaitClosed(Duration max) throws IOException {
    long end = System.nanoTime() + max.toNanos();
    ByteBuffer in = ByteBuffer.allocate(4096);
    while (true) {
      in.clear();
      int n;
      try {
        n = channel.read(in);
      } catch (IOException reset) {
        return; // "Connection reset by peer": closed with our bytes unread
      }
      if (n < 0) {
        return;
      }
      if (n == 0) {
        awaitReadable(end, "the server to close the connection");
      }
    }
  }

  private void awaitReadable(long end, String what) throws IOException {
    long remaining = end - System.nanoTime();
    if (remaining <= 0) {
      fail("timed out waiting for " + what);
    }
    selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining)));
    selector.selectedKeys().clear();
  }

  @Override
  public void close() {
    try {
      key.cancel();
      selector.close();
      channel.close();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } finally {
      decoder.close();
    }
  }
}
