package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.broker.RuntimeFileException;
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
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The broker's end of the readiness protocol: a Unix stream socket bound before the spawn, on which
 * the daemon writes one {@link Readiness} line.
 *
 * <p>{@link #await} waits in one {@link Selector} for a message, for the child's exit (its
 * {@code onExit} wakes the selector) and for the deadline, whichever comes first: no polling. Lines
 * from a pid other than the child or its descendants are ignored. The socket file is removed on
 * {@link #close()}, and only if it is still the one bound here; nothing but a dead socket file is
 * ever removed from the path ({@link RuntimeFiles#clearDeadSocket}).
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
  private final Object bound;
  private final ServerSocketChannel server;
  private final Selector selector;

  private ReadinessWait(Path path, Object bound, ServerSocketChannel server, Selector selector) {
    this.path = path;
    this.bound = bound;
    this.server = server;
    this.selector = selector;
  }

  /**
   * Binds the notify socket at {@code path}. A leftover socket file nobody listens on is replaced;
   * anything else there (a link, a directory, a regular file, a FIFO, a live socket) is reported and
   * left alone.
   *
   * @throws RuntimeFileException if something other than a dead socket stands at {@code path}
   */
  public static ReadinessWait bind(Path path) throws IOException {
    if (RuntimeFiles.clearDeadSocket(path) == RuntimeFiles.SocketState.LIVE) {
      throw new RuntimeFileException(path, "notify socket " + path + " accepts connections, so another process "
          + "listens on it; end that process or remove " + path + " (fastbind never deletes a live socket)", null);
    }
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    Selector selector = null;
    Object bound = null;
    try {
      server.bind(UnixDomainSocketAddress.of(path), 4);
      bound = RuntimeFiles.lstat(path).fileKey();
      server.configureBlocking(false);
      selector = Selector.open();
      server.register(selector, SelectionKey.OP_ACCEPT);
      return new ReadinessWait(path, bound, server, selector);
    } catch (IOException | RuntimeException e) {
      server.close();
      if (selector != null) {
        selector.close();
      }
      if (bound != null) {
        removeOwn(path, bound);
      }
      if (e instanceof java.net.BindException be) {
        throw new RuntimeFileException(path, "cannot bind the notify socket at " + path + " (" + be.getMessage()
            + "): another process made a file there meanwhile; retry, or end that process", be);
      }
      throw e;
    }
  }

  /** Removes the socket file at {@code path} only if it is still the one this wait bound (file key {@code bound}). */
  private static void removeOwn(Path path, Object bound) throws IOException {
    RuntimeFiles.Found f = RuntimeFiles.lstat(path);
    if (f.kind() == RuntimeFiles.Kind.SOCKET && Objects.equals(f.fileKey(), bound)) {
      Files.deleteIfExists(path);
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

  /** Closes the socket and removes its file, if the path still holds the socket this wait bound. */
  @Override
  public void close() throws IOException {
    try {
      selector.close();
      server.close();
    } finally {
      removeOwn(path, bound);
    }
  }
}
