package dev.fastbind.conformance.internal;

import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.broker.internal.LogFiles;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Client-side checks of listeners and daemons: that a pending connection is accepted as itself, and
 * that a daemon answers (closes) connections within a deadline. Every wait is bounded; failures are
 * {@link AssertionError}s naming what was checked.
 */
public final class Connections {

  /** What a client sends so that the accepting side can tell its connection from any other. */
  private static final byte TOKEN = 0x2a;
  private static final int END_OF_STREAM = -1;
  private static final int NOTHING = -2;

  private Connections() {}

  /** Connects a JDK client to the socket file {@code path}; fails naming {@code what} if refused. */
  public static SocketChannel connect(Path path, String what) throws IOException {
    SocketChannel client = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      client.connect(UnixDomainSocketAddress.of(path));
      return client;
    } catch (IOException e) {
      client.close();
      throw new AssertionError(what + " refuses connections: " + e, e);
    }
  }

  /**
   * Checks that {@code accept} returns, within {@code timeout}, the server side of {@code client}'s
   * pending connection: not {@code null}, and receiving the byte {@code client} sends. Connections
   * queued earlier and already closed by their peer (a bind's liveness probe) are accepted and
   * skipped on the way. Accepted channels are closed; {@code client} is left open. {@code accept}
   * runs on a thread of its own, interrupted at the end, so an accept that never returns cannot hang
   * the caller.
   *
   * @throws AssertionError naming {@code what} if nothing, {@code null} or another channel is accepted
   */
  public static void assertAcceptsPeer(Callable<SocketChannel> accept, SocketChannel client, Duration timeout,
      String what) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    client.write(ByteBuffer.wrap(new byte[] {TOKEN}));
    ExecutorService acceptor = Executors.newSingleThreadExecutor();
    try {
      int skipped = 0;
      while (true) {
        SocketChannel server;
        try {
          server = acceptor.submit(accept).get(left(deadline), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
          throw new AssertionError(what + ": the listener did not accept a pending connection"
              + (skipped > 0 ? " (only " + skipped + " connection(s) already closed by their peer)" : ""), e);
        }
        if (server == null) {
          throw new AssertionError(what + ": accept returned null instead of the pending connection");
        }
        try (SocketChannel s = server) {
          int got = firstByte(acceptor, s, deadline);
          if (got == TOKEN) {
            return;
          }
          if (got != END_OF_STREAM) {
            throw new AssertionError(what + ": accept returned " + s + ", which is not the pending connection"
                + " (it did not receive the byte the client sent)");
          }
          skipped++;
        }
      }
    } finally {
      acceptor.shutdownNow();
    }
  }

  /** The first byte {@code s} receives before {@code deadline}, {@link #END_OF_STREAM}, or {@link #NOTHING}. */
  private static int firstByte(ExecutorService reader, SocketChannel s, long deadline) throws Exception {
    Future<Integer> read = reader.submit(() -> {
      if (!s.isBlocking()) {
        s.configureBlocking(true); // the contract says blocking mode; the check is about the peer
      }
      ByteBuffer b = ByteBuffer.allocate(1);
      int n = s.read(b);
      return n < 0 ? END_OF_STREAM : n == 0 ? NOTHING : b.get(0) & 0xff;
    });
    try {
      return read.get(left(deadline), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      read.cancel(true);
      return NOTHING;
    } catch (ExecutionException e) {
      return NOTHING; // not a connected channel
    }
  }

  /**
   * Connects, sends one byte and ends the output. A daemon that accepts and closes without reading
   * makes the write fail with a broken pipe: that connection was served, and the caller's wait sees
   * it closed. Only a failed connect fails here, naming the daemon's state and log.
   */
  public static SocketChannel sendOneByte(Path sock, long pid, Path log) throws Exception {
    SocketChannel c;
    try {
      c = SocketChannel.open(UnixDomainSocketAddress.of(sock));
    } catch (IOException e) {
      boolean gone = pid > 0 && Processes.awaitGone(pid, Duration.ZERO);
      throw new AssertionError("cannot connect to " + sock + ": " + e
          + (gone ? " (the daemon, pid " + pid + ", has exited)" : "") + "; log:\n" + LogFiles.tail(log, 0), e);
    }
    try {
      c.write(ByteBuffer.wrap(new byte[] {'\n'}));
      c.shutdownOutput();
    } catch (IOException closedByTheDaemon) {
      // accepted and closed already
    }
    c.configureBlocking(false);
    return c;
  }

  /** Sends one byte on a fresh connection to {@code sock} and waits for the daemon to close it. */
  public static void requireAnswer(Path sock, long timeoutNanos, String what, Path log) throws Exception {
    try (SocketChannel c = sendOneByte(sock, -1, log)) {
      awaitAnswer(c, timeoutNanos, what, -1, log);
    }
  }

  /**
   * Waits until the daemon has closed {@code c} (after answering or not; the client ended its
   * output, so the daemon's side has seen the end of stream); fails at the deadline or if it died.
   * Waiting for the close, not just a first byte, means the daemon's descriptor for it is gone.
   */
  public static void awaitAnswer(SocketChannel c, long timeoutNanos, String what, long pid, Path log)
      throws Exception {
    if (!closedWithin(c, timeoutNanos, pid)) {
      boolean gone = pid > 0 && Processes.awaitGone(pid, Duration.ZERO);
      fail(what + " was not closed by the daemon " + (gone ? "before the daemon died" : "within the deadline")
          + "; log:\n" + LogFiles.tail(log, 0));
    }
  }

  /** Whether the daemon closes {@code c} within {@code timeoutNanos}; false early if it has died. */
  public static boolean closedWithin(SocketChannel c, long timeoutNanos, long pid) throws IOException {
    long end = System.nanoTime() + timeoutNanos;
    try (Selector selector = Selector.open()) {
      c.register(selector, SelectionKey.OP_READ);
      ByteBuffer b = ByteBuffer.allocate(256);
      while (true) {
        try {
          b.clear();
          if (c.read(b) < 0) {
            return true; // the end of stream, after whatever answer
          }
        } catch (IOException reset) {
          return true; // closed with our byte unread: accepted and closed, that is handled
        }
        long left = end - System.nanoTime();
        if (left <= 0 || pid > 0 && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
          return false;
        }
        selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(Math.min(left, 200_000_000L))));
        selector.selectedKeys().clear();
      }
    }
  }

  private static long left(long deadline) {
    return Math.max(1, deadline - System.nanoTime());
  }
}
