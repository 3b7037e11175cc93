package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.Readiness;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The broker's end of the readiness protocol: a Unix stream socket bound before the spawn, on which
 * the daemon writes one {@link Readiness} line.
 *
 * <p>{@link #await} waits in one {@link Selector} for a message, for the child's exit (its
 * {@code onExit} wakes the selector) and for the deadline, whichever comes first: no polling. Lines
 * from a pid other than the child or its descendants are ignored. The socket file is removed on
 * {@link #close()}.
 */
public final class ReadinessWait implements AutoCloseable {

  private static final int MAX_LINE = Readiness.MAX_LINE_BYTES;

  /** What ended the wait. */
  public sealed interface Outcome {}

  /** The daemon announced readiness or failure. */
  public record Message(Readiness.Message message) implements Outcome {}

  /** The child exited before announcing anything. */
  public record Exited(int status) implements Outcome {}

  /** The deadline passed. */
  public record TimedOut() implements Outcome {}

  private final Path path;
  private final ServerSocketChannel server;
  private final Selector selector;

  private ReadinessWait(Path path, ServerSocketChannel server, Selector selector) {
    this.path = path;
    this.server = server;
    this.selector = selector;
  }

  /** Binds the notify socket at {@code path}, replacing a leftover socket file (never a link or a regular file). */
  public static ReadinessWait bind(Path path) throws IOException {
    if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
      if (!Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)
          && !Files.isSymbolicLink(path)) {
        Files.delete(path);
      } else {
        throw new IOException("cannot bind the notify socket: " + path
            + " exists and is not a socket; remove it");
      }
    }
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    Selector selector = null;
    try {
      server.bind(UnixDomainSocketAddress.of(path), 4);
      server.configureBlocking(false);
      selector = Selector.open();
      server.register(selector, SelectionKey.OP_ACCEPT);
      return new ReadinessWait(path, server, selector);
    } catch (IOException | RuntimeException e) {
      server.close();
      if (selector != null) {
        selector.close();
      }
      Files.deleteIfExists(path);
      throw e;
    }
  }

  /** The socket's path, for {@code FASTBIND_NOTIFY_SOCKET}. */
  public Path path() {
    return path;
  }

  /** Waits for a message from {@code child}, its exit, or {@code deadlineNanos} ({@link System#nanoTime()}). */
  public Outcome await(Process child, long deadlineNanos) throws IOException {
    child.onExit().thenRun(selector::wakeup);
    Map<SocketChannel, ByteBuffer> buffers = new HashMap<>();
    try {
      while (true) {
        Optional<Readiness.Message> m = drain(child, buffers);
        if (m.isPresent()) {
          return new Message(m.get());
        }
        if (!child.isAlive()) {
          for (int round = 0; round < 3 && m.isEmpty(); round++) {
            selector.selectNow();
            m = drain(child, buffers);
          }
          return m.isPresent() ? new Message(m.get()) : new Exited(child.exitValue());
        }
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
          return new TimedOut();
        }
        selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left + 999_999)));
      }
    } finally {
      for (SocketChannel c : buffers.keySet()) {
        c.close();
      }
    }
  }

  private Optional<Readiness.Message> drain(Process child, Map<SocketChannel, ByteBuffer> buffers) throws IOException {
    for (SelectionKey key : selector.selectedKeys()) {
      if (!key.isValid()) {
        continue;
      }
      if (key.isAcceptable()) {
        SocketChannel c;
        while ((c = server.accept()) != null) {
          c.configureBlocking(false);
          c.register(selector, SelectionKey.OP_READ);
          buffers.put(c, ByteBuffer.allocate(MAX_LINE));
        }
      } else if (key.isReadable()) {
        SocketChannel c = (SocketChannel) key.channel();
        ByteBuffer buf = buffers.get(c);
        int n = c.read(buf);
        Optional<Readiness.Message> m = line(buf).flatMap(ReadinessWait::parse).filter(msg -> fromChild(child, msg.pid()));
        if (m.isPresent()) {
          selector.selectedKeys().clear();
          return m;
        }
        if (n < 0 || !buf.hasRemaining() || line(buf).isPresent()) {
          key.cancel();
          c.close();
          buffers.remove(c);
        }
      }
    }
    selector.selectedKeys().clear();
    return Optional.empty();
  }

  private static Optional<String> line(ByteBuffer buf) {
    for (int i = 0; i < buf.position(); i++) {
      if (buf.get(i) == '\n') {
        return Optional.of(new String(buf.array(), 0, i, StandardCharsets.UTF_8));
      }
    }
    return Optional.empty();
  }

  private static Optional<Readiness.Message> parse(String line) {
    try {
      return Optional.of(Readiness.Message.parse(line));
    } catch (IOException malformed) {
      return Optional.empty();
    }
  }

  private static boolean fromChild(Process child, long pid) {
    return pid == child.pid() || child.descendants().anyMatch(h -> h.pid() == pid);
  }

  /** Closes the socket and removes its file. */
  @Override
  public void close() throws IOException {
    try {
      selector.close();
      server.close();
    } finally {
      Files.deleteIfExists(path);
    }
  }
}
