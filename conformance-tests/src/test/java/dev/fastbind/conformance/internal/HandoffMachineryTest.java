package dev.fastbind.conformance.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
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
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the hand-off rules (401-403) observe, checked on real sockets in this JVM: a connection the
 * daemon closed is told from one that was reset, an accepted connection is seen in its holder's
 * descriptors while one in the backlog is not, the client loop counts refused clients, and the
 * JVM's own lines on standard error are not counted as the daemon's.
 */
class HandoffMachineryTest {

  private static final long SHORT = TimeUnit.SECONDS.toNanos(5);

  @TempDir
  Path dir;

  @BeforeEach
  void linuxOnly() {
    Assumptions.assumeTrue(UnixSockets.handoffUnavailableBecause().isEmpty(),
        () -> UnixSockets.handoffUnavailableBecause().orElse(""));
  }

  private ServerSocketChannel listen(String name) throws Exception {
    ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    s.bind(UnixDomainSocketAddress.of(dir.resolve(name)));
    return s;
  }

  @Test
  void aConnectionTheServerClosesAfterAnAnswerEndsClosedWithItsBytes() throws Exception {
    try (ServerSocketChannel server = listen("a.sock");
        ClientConnection client = ClientConnection.open(dir.resolve("a.sock"))) {
      try (SocketChannel accepted = server.accept()) {
        accepted.write(ByteBuffer.wrap("ok\n".getBytes(StandardCharsets.US_ASCII)));
      }
      assertEquals(ClientConnection.Ending.CLOSED, client.awaitEnd(SHORT));
      assertEquals(3, client.received());
    }
  }

  @Test
  void aConnectionLeftInTheBacklogOfAListenerThatClosesIsReset() throws Exception {
    ServerSocketChannel server = listen("b.sock");
    try (ClientConnection client = ClientConnection.open(dir.resolve("b.sock"))) {
      client.endOutput();
      assertEquals(ClientConnection.Ending.OPEN, client.poll(), "nothing happened yet");
      server.close();
      assertEquals(ClientConnection.Ending.RESET, client.awaitEnd(SHORT), client::describe);
    }
  }

  @Test
  void aConnectionClosedWithItsRequestUnreadIsReset() throws Exception {
    try (ServerSocketChannel server = listen("c.sock");
        ClientConnection client = ClientConnection.open(dir.resolve("c.sock"))) {
      SocketChannel accepted = server.accept();
      client.sendNewline();
      awaitQueued(accepted); // arrived, and nothing reads it: the close leaves it unread
      accepted.close();
      assertEquals(ClientConnection.Ending.RESET, client.awaitEnd(SHORT), client::describe);
    }
  }

  /** Waits until {@code accepted} has a byte to read, without reading it (the selector only looks). */
  private static void awaitQueued(SocketChannel accepted) throws Exception {
    accepted.configureBlocking(false);
    try (Selector s = Selector.open()) {
      accepted.register(s, SelectionKey.OP_READ);
      assertEquals(1, s.select(5_000), "the client's byte arrived");
    }
  }

  @Test
  void anAcceptedConnectionIsSeenInItsHoldersDescriptorsAndOneInTheBacklogIsNot() throws Exception {
    long self = ProcessHandle.current().pid();
    Path path = dir.resolve("d.sock");
    try (ServerSocketChannel server = listen("d.sock");
        ClientConnection client = ClientConnection.open(path)) {
      assertEquals(Set.of(), UnixSockets.accepted(self, path), "a connection in the backlog is held by no process");
      try (SocketChannel accepted = server.accept()) {
        assertEquals(1, UnixSockets.accepted(self, path).size(), "the accepted connection is this JVM's");
      }
      assertEquals(Set.of(), UnixSockets.accepted(self, path), "closed, it is gone");
      assertEquals(1, UnixSockets.listening(endpoint(path)).size());
    }
  }

  @Test
  void theClientLoopCountsRefusedClientsAndStopsOnItsOwnAfterEnoughOfThem() throws Exception {
    try (ClientLoop loop = ClientLoop.start(dir.resolve("nobody.sock"), Duration.ofSeconds(5))) {
      assertFalse(loop.awaitServed(1, System.nanoTime() + SHORT), "nobody serves");
      assertEquals(ClientLoop.MAX_FAILURES, loop.failures());
      assertEquals(0, loop.served());
      assertTrue(loop.describeFailures().startsWith(ClientLoop.MAX_FAILURES + " refused"), loop.describeFailures());
    }
  }

  @Test
  void theClientLoopCountsServedClients() throws Exception {
    try (ServerSocketChannel server = listen("e.sock")) {
      Thread acceptor = new Thread(() -> {
        try {
          while (true) {
            server.accept().close();
          }
        } catch (IOException closed) {
          // the test is over
        }
      });
      acceptor.start();
      try (ClientLoop loop = ClientLoop.start(dir.resolve("e.sock"), Duration.ofSeconds(5))) {
        assertTrue(loop.awaitServed(50, System.nanoTime() + SHORT), loop::describeFailures);
        assertEquals(0, loop.failures(), loop::describeFailures);
      } finally {
        server.close();
        acceptor.join(5_000);
      }
    }
  }

  @Test
  void theJvmsOwnWarningsAndBlankLinesAreNotCountedAsTheDaemonsLines() throws Exception {
    Path err = Files.writeString(dir.resolve("err"), String.join("\n",
        "Picked up JAVA_TOOL_OPTIONS: -Xss1m",
        "WARNING: A restricted method in java.lang.System has been called",
        "WARNING: Use --enable-native-access=ALL-UNNAMED to avoid a warning for callers in this module",
        "",
        "fastbind: svc: cannot take the listener handed off at /run/x/svc.handoff; not binding a socket of its own",
        "\tat a.stack.Trace(Trace.java:1)") + "\n");
    assertEquals(List.of(
        "fastbind: svc: cannot take the listener handed off at /run/x/svc.handoff; not binding a socket of its own",
        "\tat a.stack.Trace(Trace.java:1)"), Processes.ownLines(err));
  }

  private static Endpoint endpoint(Path path) throws Exception {
    return Endpoint.unixPath(path);
  }
}
