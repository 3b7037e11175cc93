package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * Another user connecting in a loop to a daemon's abstract endpoint (no file permissions protect
 * it) is rejected every time, and the daemon's log grows by a bounded amount, not a line per
 * connection.
 */
class ForeignPeerFloodTest {

  private static final int CONNECTIONS = 2000;
  private static final Duration START = Duration.ofSeconds(20);

  @TempDir Path runtime;

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.PYTHON3})
  void aFloodOfConnectionsFromAnotherUserGrowsTheLogByABoundedAmount() throws Exception {
    String name = "fastbind-flood-" + UUID.randomUUID();
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of("FASTBIND_ENDPOINT", "abstract:" + name))) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      long before = daemon.log().length();

      String script = "import socket\n"
          + "for i in range(" + CONNECTIONS + "):\n"
          + "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
          + "    s.connect('\\0" + name + "')\n"
          + "    s.close()\n"
          + "print('flooded')\n";
      Process nobody = new ProcessBuilder(Capability.RUNUSER.executable().toString(), "-u", "nobody", "--",
          Capability.PYTHON3.executable().toString(), "-c", script)
          .redirectErrorStream(true).start();
      try {
        assertTrue(nobody.waitFor(20, TimeUnit.SECONDS), "the flooding client did not finish in 20 s");
        String out = new String(nobody.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(out.contains("flooded"), out);
      } finally {
        Cleanup.killTree(nobody);
      }
      // The accept loop is first in, first out: once our own connection is served, every flooding
      // connection before it has been rejected.
      assertEquals("echo:own", echo(name, "own"));

      String grown = daemon.log().substring((int) before);
      long lines = grown.lines().count();
      System.out.println("log growth after " + CONNECTIONS + " rejected connections: " + grown.length()
          + " bytes, " + lines + " lines");
      assertTrue(grown.contains("rejected a connection") && grown.contains("uid 65534"), grown);
      assertTrue(grown.length() < 2048, "log grew by " + grown.length() + " bytes:\n" + grown.substring(0,
          Math.min(grown.length(), 2000)));
      assertTrue(daemon.process().isAlive(), daemon.log());
    }
  }

  private static String echo(String abstractName, String text) throws Exception {
    try (AFUNIXSocket socket = AFUNIXSocket.connectTo(AFUNIXSocketAddress.inAbstractNamespace(abstractName))) {
      SocketChannel client = socket.getChannel();
      client.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII)));
      return DaemonProcessTest.readAll(client);
    }
  }
}
