package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.Readiness;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;

class ReadinessTest {

  @Test
  void readyAndFailedMessagesRoundTripIncludingAwkwardReasons() throws IOException {
    Readiness.Message ready = Readiness.Message.ready(42, "abc123");
    assertEquals("READY v=2 pid=42 instance=abc123\n", ready.encode());
    assertEquals(ready, Readiness.Message.parse(ready.encode()));
    Readiness.Message failed = Readiness.Message.failed(7, "endpoint unix:/a b=c is already bound\nby pid 9 ü%");
    assertEquals(1, failed.encode().split("\n", -1).length - 1, "one line on the wire");
    assertEquals(failed, Readiness.Message.parse(failed.encode()));
  }

  @Test
  void linesOfFormatOneFromEarlierDaemonsAreStillRead() throws IOException {
    // Version 1 had no v field and URL-encoded its values: '+' for a space, UTF-8 bytes as %XX.
    assertEquals(Readiness.Message.failed(9, "cannot bind é+"),
        Readiness.Message.parse("FAILED pid=9 reason=cannot+bind+%C3%A9%2B\n"));
    IOException future = assertThrows(IOException.class, () -> Readiness.Message.parse("READY v=3 pid=1 instance=x"));
    assertTrue(future.getMessage().contains("formats 1 and 2"), future.getMessage());
  }

  @Test
  void aLongNonAsciiReasonIsCutToFitTheLineNotDropped() throws Exception {
    // 3000 characters of three UTF-8 bytes each, some of them escaped: the old 1024-character cut made
    // lines of over 4096 bytes that the broker dropped.
    String reason = "日本\u200b".repeat(1000);
    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("readiness");
    java.nio.file.Path sock = dir.resolve("n.sock");
    try (java.nio.channels.ServerSocketChannel server = java.nio.channels.ServerSocketChannel.open(
        java.net.StandardProtocolFamily.UNIX)) {
      server.bind(java.net.UnixDomainSocketAddress.of(sock));
      Readiness.send(sock, Readiness.Message.failed(11, reason));
      try (java.nio.channels.SocketChannel c = server.accept()) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(Readiness.MAX_LINE_BYTES + 1);
        while (c.read(b) >= 0 && b.hasRemaining()) {
          // read to the end of the one line the daemon side sent
        }
        assertTrue(b.position() <= Readiness.MAX_LINE_BYTES, "line of " + b.position() + " bytes");
        Readiness.Message got = Readiness.Message.parse(
            new String(b.array(), 0, b.position(), java.nio.charset.StandardCharsets.UTF_8));
        assertTrue(got.reason().endsWith("…") && reason.startsWith(got.reason().substring(0, got.reason().length() - 1)),
            got.reason());
        assertTrue(got.reason().length() > 500, "cut far more than needed: " + got.reason().length());
      }
    } finally {
      java.nio.file.Files.deleteIfExists(sock);
      java.nio.file.Files.delete(dir);
    }
  }

  @Test
  void unknownFieldsAreIgnoredSoTheFormatCanGrow() throws IOException {
    assertEquals(Readiness.Message.ready(5, "x"), Readiness.Message.parse("READY pid=5 instance=x later=1"));
  }

  @Test
  void malformedLinesAreTypedErrorsQuotingTheInput() {
    for (String bad : new String[] {"", "HELLO pid=1", "READY", "READY pid=x instance=y", "READY pid=3",
        "READY pid=3 instance", "FAILED pid=-1", "READY pid=1 instance=%zz"}) {
      IOException e = assertThrows(IOException.class, () -> Readiness.Message.parse(bad), bad);
      assertTrue(e.getMessage().startsWith("malformed readiness notification"), e.getMessage());
    }
  }
}
