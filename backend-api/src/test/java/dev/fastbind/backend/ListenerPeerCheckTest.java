package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.RequiresCapability;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A plain {@link Selector} on the listener's channel, and the public peer check that a stack which
 * accepts by itself calls on each connection.
 */
class ListenerPeerCheckTest {

  @TempDir Path dir;

  @Test
  void aSelectorLoopOnTheChannelAcceptsThroughTheListenerAndAnswers() throws Exception {
    Endpoint e = Endpoint.unixPath(dir.resolve("selector.sock"));
    try (IpcListener listener = IpcListener.bind(e); Selector selector = Selector.open()) {
      assertSame(listener.channel(), listener.channel());
      CompletableFuture<Void> loop = serveWithSelector(listener, selector, 2);
      assertEquals("selector:one", Peer.exchange(e, "one"));
      assertEquals("selector:two", Peer.exchange(e, "two"));
      loop.get(10, TimeUnit.SECONDS);
      assertNull(listener.accept(), "non-blocking and nothing waiting: accept returns at once");
    }
  }

  @Test
  void aSelectorFromTheChannelsOwnProviderServesAnAbstractListener() throws Exception {
    Endpoint e = Endpoint.abstractName("fastbind-selector-" + UUID.randomUUID());
    try (IpcListener listener = IpcListener.bind(e);
        Selector selector = listener.channel().provider().openSelector()) {
      CompletableFuture<Void> loop = serveWithSelector(listener, selector, 1);
      assertEquals("selector:abstract", Peer.exchange(e, "abstract"));
      loop.get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.PYTHON3})
  void aSelectorLoopKeepsThePeerCheckWhenItAcceptsThroughTheListener() throws Exception {
    String name = "fastbind-selector-peer-" + UUID.randomUUID();
    Endpoint e = Endpoint.abstractName(name);
    try (IpcListener listener = IpcListener.bind(e);
        Selector selector = listener.channel().provider().openSelector()) {
      CompletableFuture<Void> loop = serveWithSelector(listener, selector, 1);
      String nobody = Peer.asNobody("\\0" + name, "intruder");
      assertTrue(nobody.contains("received b''"), "another user was answered: " + nobody);
      assertEquals(1, listener.rejectedPeers());
      assertEquals("selector:own", Peer.exchange(e, "own"));
      loop.get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.PYTHON3})
  void admitClosesAndCountsAConnectionFromAnotherUserAcceptedFromTheChannelDirectly() throws Exception {
    Path open = Files.createDirectory(dir.resolve("open"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwx--x--x"));
    Path path = open.resolve("direct.sock");
    try (IpcListener listener = IpcListener.bind(Endpoint.unixPath(path))) {
      Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw-rw-"));
      CompletableFuture<String> nobody = CompletableFuture.supplyAsync(() -> {
        try {
          return Peer.asNobody(path.toString(), "intruder");
        } catch (Exception x) {
          throw new IllegalStateException(x);
        }
      });
      ServerSocketChannel channel = listener.channel();
      SocketChannel foreign = channel.accept(); // blocking: this bypasses accept()'s check
      assertFalse(listener.admit(foreign));
      assertFalse(foreign.isOpen(), "a refused connection is closed");
      assertEquals(1, listener.rejectedPeers());
      assertTrue(nobody.get(20, TimeUnit.SECONDS).contains("received b''"), nobody.get());

      try (SocketChannel own = Peer.connect(listener.endpoint()); SocketChannel accepted = channel.accept()) {
        assertTrue(listener.admit(accepted));
        assertTrue(accepted.isOpen());
        assertEquals(1, listener.rejectedPeers());
      }
    }
  }

  @Test
  void admitByUidAndByUserAcceptsThisUserAndCountsAnyOther() throws Exception {
    for (Endpoint e : new Endpoint[] {Endpoint.unixPath(dir.resolve("ids.sock")),
        Endpoint.abstractName("fastbind-ids-" + UUID.randomUUID())}) {
      try (IpcListener listener = IpcListener.bind(e)) {
        long me = ProcessIdentity.currentUid();
        UserPrincipal myself = Files.getOwner(Path.of("/proc/self"));
        assertTrue(listener.admitUid(me), e.toString());
        assertTrue(listener.admit(myself), e.toString());
        assertEquals(0, listener.rejectedPeers());

        assertFalse(listener.admitUid(me + 1), e.toString());
        assertFalse(listener.admitUid(-1), "an unknown uid is never this user");
        assertEquals(2, listener.rejectedPeers());
        if (me != 0) {
          UserPrincipal root = FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName("root");
          assertFalse(listener.admit(root), e.toString());
          assertEquals(3, listener.rejectedPeers());
        }
      }
    }
  }

  @Test
  void admitKeepsAConnectionOfThisUserOnEveryKindOfListener() throws Exception {
    for (Endpoint e : new Endpoint[] {Endpoint.unixPath(dir.resolve("mine.sock")),
        Endpoint.abstractName("fastbind-mine-" + UUID.randomUUID())}) {
      try (IpcListener listener = IpcListener.bind(e);
          SocketChannel client = Peer.connect(e);
          SocketChannel accepted = listener.channel().accept()) {
        assertTrue(listener.admit(accepted), e.toString());
        assertTrue(accepted.isOpen());
        assertEquals(0, listener.rejectedPeers());
      }
    }
  }

  /**
   * A one-thread selector loop: OP_ACCEPT on the listener's channel, {@link IpcListener#accept()}
   * (peer-checked, null when nothing of this user waits), then {@code selector:} and the bytes read,
   * until {@code answers} connections were answered.
   */
  private static CompletableFuture<Void> serveWithSelector(IpcListener listener, Selector selector, int answers)
      throws Exception {
    listener.channel().configureBlocking(false);
    listener.channel().register(selector, SelectionKey.OP_ACCEPT);
    CompletableFuture<Void> done = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        int answered = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (answered < answers && System.nanoTime() - deadline < 0) {
          selector.select(1000);
          selector.selectedKeys().clear();
          for (SocketChannel next = listener.accept(); next != null; next = listener.accept()) {
            try (SocketChannel c = next) {
              ByteBuffer in = ByteBuffer.allocate(256);
              if (c.read(in) > 0) {
                in.flip();
                ByteBuffer out = ByteBuffer.allocate(in.remaining() + 9);
                out.put("selector:".getBytes(StandardCharsets.US_ASCII)).put(in).flip();
                while (out.hasRemaining()) {
                  c.write(out);
                }
                answered++;
              }
            }
          }
        }
        done.complete(null);
      } catch (Throwable x) {
        done.completeExceptionally(x);
      }
    }, "test-selector-loop");
    t.setDaemon(true);
    t.start();
    return done;
  }

  @Test
  void theChannelOfAnAbstractListenerIsJunixsocketsAndOfABoundPathTheJdks() throws Exception {
    try (IpcListener path = IpcListener.bind(Endpoint.unixPath(dir.resolve("kind.sock")));
        IpcListener name = IpcListener.bind(Endpoint.abstractName("fastbind-kind-" + UUID.randomUUID()))) {
      assertSame(java.nio.channels.spi.SelectorProvider.provider(), path.channel().provider());
      assertNotNull(name.channel().provider());
      assertTrue(name.channel() instanceof org.newsclub.net.unix.AFUNIXServerSocketChannel);
    }
  }
}
