package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The kernel's answer to "who holds the listener at this path?", from real sockets. */
class SocketHoldersTest {

  @TempDir Path tmp;

  @Test
  void procfsLinesSplitAsTheRegularExpressionWouldWithoutIt() {
    String line = "  0000000000000000: 00000002 00000000 00010000 0001 01 18576191 /tmp/a dir/with  spaces.sock  ";
    org.junit.jupiter.api.Assertions.assertArrayEquals(line.trim().split("\\s+", 8), SocketHolders.fields(line, 8));
    String status = "\t1000\t1000\t1000\t1000";
    org.junit.jupiter.api.Assertions.assertArrayEquals(status.trim().split("\\s+"), SocketHolders.fields(status, 0));
    org.junit.jupiter.api.Assertions.assertArrayEquals(new String[0], SocketHolders.fields("   ", 0));
  }

  @Test
  void aListenerBoundHereIsHeldByThisProcessAndNamedWithItsUidAndCommand() throws Exception {
    Path path = tmp.resolve("a b.sock"); // a space: the path is the last, unsplit column
    try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      listener.bind(UnixDomainSocketAddress.of(path));
      Endpoint endpoint = Endpoint.unixPath(path);
      assertEquals(1, SocketHolders.listeningInodes(endpoint).size());
      assertTrue(SocketHolders.holds(ProcessIdentity.currentPid(), endpoint));
      List<SocketHolders.Holder> holders = SocketHolders.holders(endpoint);
      assertEquals(1, holders.size(), holders.toString());
      SocketHolders.Holder me = holders.get(0);
      assertEquals(ProcessIdentity.currentPid(), me.pid());
      assertEquals(ProcessIdentity.currentUid(), me.uid());
      assertFalse(me.command().isEmpty());
      assertTrue(me.describe().startsWith("pid " + me.pid() + " (uid "), me.describe());
    }
  }

  @Test
  void aConnectedClientOrAClosedListenerHoldsNothing() throws Exception {
    Path path = tmp.resolve("s.sock");
    Endpoint endpoint = Endpoint.unixPath(path);
    try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      listener.bind(UnixDomainSocketAddress.of(path));
      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path));
          SocketChannel accepted = listener.accept()) {
        assertEquals(1, SocketHolders.listeningInodes(endpoint).size(), "only the listener counts");
      }
    }
    assertTrue(SocketHolders.listeningInodes(endpoint).isEmpty());
    assertFalse(SocketHolders.holds(ProcessIdentity.currentPid(), endpoint));
  }

  @Test
  void linesOfProcNetUnixAreReadByFlagsAndPath() {
    Set<Long> found = new HashSet<>();
    SocketHolders.parseLine("0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/x.sock", "/run/x.sock",
        found);
    SocketHolders.parseLine("0000000000000000: 00000003 00000000 00000000 0001 03 4243 /run/x.sock", "/run/x.sock",
        found); // connected, not listening
    SocketHolders.parseLine("0000000000000000: 00000002 00000000 00010000 0001 01 4244 /run/y.sock", "/run/x.sock",
        found); // another path
    SocketHolders.parseLine("garbage", "/run/x.sock", found);
    assertEquals(Set.of(4242L), found);
  }
}
