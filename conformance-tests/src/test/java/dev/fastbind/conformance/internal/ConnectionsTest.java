package dev.fastbind.conformance.internal;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The accept check behind rules 202, 203, 205, 206 and 207 can fail: on a listener that has no
 * pending connection, on an accept that returns {@code null}, and on one that returns another
 * connection; and it closes what it accepts.
 */
class ConnectionsTest {

  private static final Duration SHORT = Duration.ofMillis(300);

  @TempDir
  Path dir;

  @Test
  void aListenerTheClientDidNotReachFailsTheCheck() throws Exception {
    try (ServerSocketChannel holder = listen("holder.sock");
        ServerSocketChannel elsewhere = listen("elsewhere.sock");
        SocketChannel client = Connections.connect(dir.resolve("elsewhere.sock"), "elsewhere")) {
      AssertionError e = assertThrows(AssertionError.class,
          () -> Connections.assertAcceptsPeer(holder::accept, client, SHORT, "the holder"));
      assertTrue(e.getMessage().contains("the holder: the listener did not accept a pending connection"), e::getMessage);
    }
  }

  @Test
  void anAcceptThatReturnsNullFailsTheCheck() throws Exception {
    try (ServerSocketChannel holder = listen("holder.sock");
        SocketChannel client = Connections.connect(dir.resolve("holder.sock"), "holder")) {
      AssertionError e = assertThrows(AssertionError.class,
          () -> Connections.assertAcceptsPeer(() -> null, client, SHORT, "a listener"));
      assertTrue(e.getMessage().contains("accept returned null"), e::getMessage);
    }
  }

  @Test
  void anAcceptThatReturnsAnotherConnectionFailsTheCheck() throws Exception {
    try (ServerSocketChannel holder = listen("holder.sock");
        ServerSocketChannel other = listen("other.sock");
        SocketChannel client = Connections.connect(dir.resolve("holder.sock"), "holder");
        SocketChannel silent = Connections.connect(dir.resolve("other.sock"), "other")) {
      AssertionError e = assertThrows(AssertionError.class,
          () -> Connections.assertAcceptsPeer(other::accept, client, SHORT, "a listener"));
      assertTrue(e.getMessage().contains("which is not the pending connection"), e::getMessage);
      assertTrue(silent.isOpen());
    }
  }

  @Test
  void theClientsOwnConnectionPassesAfterAClosedProbeAndIsClosed() throws Exception {
    try (ServerSocketChannel holder = listen("holder.sock")) {
      Connections.connect(dir.resolve("holder.sock"), "probe").close(); // as a bind's liveness probe does
      List<SocketChannel> accepted = new ArrayList<>();
      try (SocketChannel client = Connections.connect(dir.resolve("holder.sock"), "holder")) {
        Connections.assertAcceptsPeer(() -> {
          SocketChannel s = holder.accept();
          accepted.add(s);
          return s;
        }, client, Duration.ofSeconds(10), "the holder");
      }
      assertTrue(accepted.size() == 2, () -> "accepted " + accepted);
      accepted.forEach(s -> assertFalse(s.isOpen(), () -> s + " was left open"));
    }
  }

  private ServerSocketChannel listen(String name) throws Exception {
    ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    s.bind(UnixDomainSocketAddress.of(dir.resolve(name)));
    return s;
  }
}
