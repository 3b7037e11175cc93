package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.testing.NettyServers;
import dev.fastbind.backend.testing.NettyServers.Server;
import dev.fastbind.backend.testing.NettyServers.Transport;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.RequiresCapability;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Real Netty servers (NIO on the listener's channel, epoll on a duplicate of its descriptor) serve a
 * fastbind listener over real Unix sockets, and keep the same-user guarantee through the listener's
 * peer check.
 */
class NettyServingTest {

  @TempDir Path dir;

  @ParameterizedTest
  @EnumSource(Transport.class)
  void nettyEchoesOverARealUnixSocketOnABoundListener(Transport transport) throws Exception {
    Endpoint e = Endpoint.unixPath(dir.resolve("netty.sock"));
    try (IpcListener listener = IpcListener.bind(e); Server server = NettyServers.serve(listener, transport)) {
      assertEquals(transport.prefix() + ":hello", Peer.exchange(e, "hello"));
      assertEquals(transport.prefix() + ":again", Peer.exchange(e, "again"));
      assertEquals(0, listener.rejectedPeers());
    }
  }

  @Test
  void nettyEpollEchoesOnAnAbstractListenersDescriptor() throws Exception {
    Endpoint e = Endpoint.abstractName("fastbind-netty-" + UUID.randomUUID());
    try (IpcListener listener = IpcListener.bind(e); Server server = NettyServers.epoll(listener)) {
      assertEquals("epoll:abstract", Peer.exchange(e, "abstract"));
    }
  }

  @Test
  void theDescriptorIsADuplicateSoNettysShutdownLeavesTheListenerListeningAndItsFileInPlace() throws Exception {
    Path path = dir.resolve("dup.sock");
    Endpoint e = Endpoint.unixPath(path);
    try (IpcListener listener = IpcListener.bind(e)) {
      Path duplicate;
      Path socket;
      try (Server server = NettyServers.epoll(listener)) {
        assertEquals("epoll:first", Peer.exchange(e, "first"));
        duplicate = Path.of("/proc/self/fd/" + ((io.netty.channel.unix.UnixChannel) server.channel()).fd().intValue());
        socket = Files.readSymbolicLink(duplicate);
      }
      // Netty closed its descriptor (whose number something else may have been given since).
      assertFalse(Files.exists(duplicate, java.nio.file.LinkOption.NOFOLLOW_LINKS)
          && Files.readSymbolicLink(duplicate).equals(socket), "Netty left " + duplicate + " open");
      assertTrue(listener.isOpen());
      assertTrue(Files.exists(path), "the socket file is the listener's, not Netty's");
      // The listener still serves by itself (blocking again: the duplicate had made it non-blocking).
      listener.channel().configureBlocking(true);
      try (SocketChannel client = Peer.connect(e)) {
        client.write(java.nio.ByteBuffer.wrap(new byte[] {1}));
        try (SocketChannel accepted = listener.accept()) {
          assertTrue(accepted.isConnected());
        }
      }
    }
    assertFalse(Files.exists(path), "close removes the listener's own file");
  }

  @Test
  void eachCallGivesANewDescriptorOfTheSameSocket() throws Exception {
    io.netty.channel.epoll.Epoll.ensureAvailability(); // Netty's native library, which closes the descriptors below
    try (IpcListener listener = IpcListener.bind(Endpoint.unixPath(dir.resolve("two.sock")))) {
      int first = listener.duplicateDescriptor();
      int second = listener.duplicateDescriptor();
      try {
        assertNotEquals(first, second);
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/fd/" + first)),
            Files.readSymbolicLink(Path.of("/proc/self/fd/" + second)));
        assertTrue(Files.readSymbolicLink(Path.of("/proc/self/fd/" + first)).toString().startsWith("socket:["));
        assertFalse(listener.channel().isBlocking(), "native event loops need the socket non-blocking");
        assertEquals(null, listener.accept(), "non-blocking: nothing waits, so accept returns at once");
      } finally {
        new io.netty.channel.unix.FileDescriptor(first).close();
        new io.netty.channel.unix.FileDescriptor(second).close();
      }
    }
  }

  @Test
  void aClosedListenerGivesNoDescriptor() throws Exception {
    IpcListener listener = IpcListener.bind(Endpoint.unixPath(dir.resolve("closed.sock")));
    listener.close();
    assertThrows(ClosedChannelException.class, listener::duplicateDescriptor);
  }

  @Test
  void closingTheListenerBeforeNettyNioShutsDownLeavesASuccessorsSocketFile() throws Exception {
    Path path = dir.resolve("successor.sock");
    Endpoint e = Endpoint.unixPath(path);
    IpcListener listener = IpcListener.bind(e);
    try (Server server = NettyServers.nio(listener)) {
      assertEquals("nio:before", Peer.exchange(e, "before"));
      listener.close(); // the order the README gives: fastbind's close first, then Netty's shutdown
      try (IpcListener successor = IpcListener.bind(e)) {
        server.close();
        assertTrue(Files.exists(path), "Netty's shutdown removed the successor's socket file");
        successor.channel().configureBlocking(true);
        try (SocketChannel client = Peer.connect(e); SocketChannel accepted = successor.accept()) {
          assertTrue(accepted.isConnected());
        }
      }
    }
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.PYTHON3})
  void nettyRefusesAPeerOfAnotherUserThroughThePeerCheckAndCountsIt(Transport transport) throws Exception {
    // A misconfigured directory and socket mode: only the peer check stands between another user and
    // the daemon's handlers.
    Path open = Files.createDirectory(dir.resolve("open"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwx--x--x"));
    Path path = open.resolve("netty.sock");
    Endpoint e = Endpoint.unixPath(path);
    try (IpcListener listener = IpcListener.bind(e); Server server = NettyServers.serve(listener, transport)) {
      Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw-rw-"));
      String nobody = Peer.asNobody(path.toString(), "intruder");
      assertTrue(nobody.contains("received b''"), "another user was answered: " + nobody);
      assertEquals(1, listener.rejectedPeers());
      assertEquals(transport.prefix() + ":own", Peer.exchange(e, "own"), "the daemon's own user is still served");
      assertEquals(1, listener.rejectedPeers());
    }
  }

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.PYTHON3})
  void nettyEpollRefusesAPeerOfAnotherUserOnAnAbstractListener() throws Exception {
    String name = "fastbind-netty-peer-" + UUID.randomUUID();
    Endpoint e = Endpoint.abstractName(name);
    try (IpcListener listener = IpcListener.bind(e); Server server = NettyServers.epoll(listener)) {
      String nobody = Peer.asNobody("\\0" + name, "intruder");
      assertTrue(nobody.contains("received b''"), "another user was answered: " + nobody);
      assertEquals(1, listener.rejectedPeers());
      assertEquals("epoll:own", Peer.exchange(e, "own"));
    }
  }
}
