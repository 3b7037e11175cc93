package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

class IpcListenerTest {

  @TempDir Path dir;

  private Endpoint endpoint(String name) throws BindException {
    return Endpoint.unixPath(dir.resolve(name));
  }

  @Test
  void boundEndpointAcceptsAConnectionAndItsSocketFileIsOwnerOnly() throws Exception {
    Endpoint e = endpoint("a.sock");
    try (IpcListener listener = IpcListener.bind(e)) {
      assertEquals(e, listener.endpoint());
      assertFalse(listener.isInherited());
      assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("a.sock"))));
      assertRoundTrip(listener, e);
    }
  }

  @Test
  void secondBindOnALiveEndpointIsAlreadyBoundAndTheFirstKeepsWorking() throws Exception {
    Endpoint e = endpoint("live.sock");
    try (IpcListener first = IpcListener.bind(e)) {
      BindException.AlreadyBound error = assertThrows(BindException.AlreadyBound.class, () -> IpcListener.bind(e));
      assertEquals(ProcessHandle.current().pid(), error.holderPid(), error.getMessage());
      assertTrue(error.getMessage().contains(e.toString()), error.getMessage());
      assertRoundTrip(first, e);
    }
  }

  @Test
  void bindNextToALiveListenerWhoseBacklogIsFullFailsAtOnceInsteadOfWaiting() throws Exception {
    Path path = dir.resolve("swamped.sock");
    List<SocketChannel> pending = new ArrayList<>();
    // A listener that never accepts (a stopped daemon), its backlog filled by clients that wait.
    try (ServerSocketChannel swamped = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      swamped.bind(UnixDomainSocketAddress.of(path), 1);
      boolean full = false;
      for (int i = 0; i < 64 && !full; i++) {
        SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
        pending.add(c);
        c.configureBlocking(false);
        try {
          c.connect(UnixDomainSocketAddress.of(path));
        } catch (IOException backlogFull) {
          full = true;
        }
      }
      assertTrue(full, "the backlog never filled");
      Endpoint e = Endpoint.unixPath(path);
      BindException.AlreadyBound error = assertTimeoutPreemptively(Duration.ofSeconds(10),
          () -> assertThrows(BindException.AlreadyBound.class, () -> IpcListener.bind(e)),
          "bind waited on a listener that never accepts");
      assertTrue(error.getMessage().contains(e.toString()), error.getMessage());
      assertTrue(Files.exists(path), "the live listener's socket file is left alone");
    } finally {
      for (SocketChannel c : pending) {
        c.close();
      }
    }
  }

  @Test
  void leftoverSocketFileWithNoListenerIsReclaimed() throws Exception {
    Path path = dir.resolve("stale.sock");
    // A JDK channel closed without unlinking leaves exactly what a killed daemon leaves: a socket file
    // nobody listens on. (The kill -9 version of this runs in DaemonProcessTest.)
    try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(path));
    }
    assertTrue(Files.exists(path));
    try (IpcListener listener = IpcListener.bind(Endpoint.unixPath(path))) {
      assertRoundTrip(listener, listener.endpoint());
    }
  }

  @Test
  void regularFileAtTheSocketPathIsNeverDeleted() throws Exception {
    Path path = dir.resolve("data.sock");
    Files.writeString(path, "precious");
    BindException.InvalidEndpoint error =
        assertThrows(BindException.InvalidEndpoint.class, () -> IpcListener.bind(Endpoint.unixPath(path)));
    assertTrue(error.getMessage().contains("regular file"), error.getMessage());
    assertEquals("precious", Files.readString(path));
  }

  @Test
  void symlinkAtTheSocketPathIsNeitherFollowedNorDeleted() throws Exception {
    Path target = dir.resolve("target.sock");
    Path link = dir.resolve("link.sock");
    try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(target));
    }
    Files.createSymbolicLink(link, target);
    BindException.InvalidEndpoint error =
        assertThrows(BindException.InvalidEndpoint.class, () -> IpcListener.bind(Endpoint.unixPath(link)));
    assertTrue(error.getMessage().contains("symbolic link"), error.getMessage());
    assertTrue(Files.isSymbolicLink(link));
    assertTrue(Files.exists(target));
  }

  @Test
  void missingDirectoryIsAnIoErrorNamingTheDirectory() throws Exception {
    Path path = dir.resolve("missing/a.sock");
    BindException.Io error = assertThrows(BindException.Io.class, () -> IpcListener.bind(Endpoint.unixPath(path)));
    assertTrue(error.getMessage().contains(dir.resolve("missing").toString()), error.getMessage());
    assertTrue(error.getMessage().contains("does not exist"), error.getMessage());
  }

  @Test
  void closeRemovesItsOwnSocketFileButNeverASuccessorsOne() throws Exception {
    Path path = dir.resolve("succ.sock");
    IpcListener first = IpcListener.bind(Endpoint.unixPath(path));
    first.close();
    assertFalse(Files.exists(path), "close removes the listener's own socket file");

    IpcListener old = IpcListener.bind(Endpoint.unixPath(path));
    Files.delete(path); // e.g. an operator cleaned up, and a successor bound the same path
    try (IpcListener successor = IpcListener.bind(Endpoint.unixPath(path))) {
      old.close();
      assertTrue(Files.exists(path), "the successor's socket file must survive the old listener's close");
      assertRoundTrip(successor, successor.endpoint());
    }
  }

  @Test
  void closeWakesABlockedAccept() throws Exception {
    IpcListener listener = IpcListener.bind(endpoint("wake.sock"));
    CompletableFuture<SocketChannel> accepting = CompletableFuture.supplyAsync(() -> {
      try {
        return listener.accept();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    Await.until(Duration.ofSeconds(5), IpcListenerTest::threadBlockedInAccept,
        () -> "no thread blocked in ServerSocketChannel.accept");
    listener.close();
    ExecutionException failure = assertThrows(ExecutionException.class, () -> accepting.get(5, TimeUnit.SECONDS));
    assertInstanceOf(ClosedChannelException.class, failure.getCause().getCause());
    assertFalse(listener.isOpen());
  }

  @Test
  void abstractEndpointBindsAcceptsAndRefusesASecondBind() throws Exception {
    Endpoint e = Endpoint.abstractName("fastbind-test-" + UUID.randomUUID());
    try (IpcListener listener = IpcListener.bind(e)) {
      assertThrows(BindException.AlreadyBound.class, () -> IpcListener.bind(e));
      assertRoundTrip(listener, e);
    }
  }

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.SOCAT})
  void connectionFromAnotherUserIsRejectedOnAnAbstractEndpoint() throws Exception {
    Endpoint e = Endpoint.abstractName("fastbind-peer-" + UUID.randomUUID());
    try (IpcListener listener = IpcListener.bind(e)) {
      assertForeignPeerRejected(listener, "ABSTRACT-CONNECT:" + e.abstractName().orElseThrow());
    }
  }

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.SOCAT})
  void connectionFromAnotherUserIsRejectedOnASocketFileOthersCanReach() throws Exception {
    // Simulate a misconfigured directory and socket mode: only the peer-credential check stands between
    // another user and the daemon.
    Path open = Files.createDirectory(dir.resolve("open"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwx--x--x"));
    Path path = open.resolve("p.sock");
    try (IpcListener listener = IpcListener.bind(Endpoint.unixPath(path))) {
      Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw-rw-"));
      assertForeignPeerRejected(listener, "UNIX-CONNECT:" + path);
    }
  }

  private void assertForeignPeerRejected(IpcListener listener, String socatAddress) throws Exception {
    CompletableFuture<SocketChannel> accepted = acceptAsync(listener);
    Process nobody = new ProcessBuilder(Capability.RUNUSER.executable().toString(), "-u", "nobody", "--",
        Capability.SOCAT.executable().toString(), "-u", "OPEN:/dev/null", socatAddress)
        .redirectErrorStream(true).start();
    try {
      assertTrue(nobody.waitFor(10, TimeUnit.SECONDS), "socat as nobody did not finish");
      Await.until(Duration.ofSeconds(5), () -> listener.rejectedPeers() == 1,
          () -> listener.rejectedPeers() + " peers rejected, not 1");
      assertFalse(accepted.isDone(), "a foreign peer must never be handed to the daemon");
      // and the daemon's own user is still served
      try (SocketChannel own = connect(listener.endpoint())) {
        SocketChannel server = accepted.get(5, TimeUnit.SECONDS);
        server.close();
      }
      assertEquals(1, listener.rejectedPeers());
    } finally {
      Cleanup.killTree(nobody);
    }
  }

  private static CompletableFuture<SocketChannel> acceptAsync(IpcListener listener) {
    CompletableFuture<SocketChannel> f = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        f.complete(listener.accept());
      } catch (Throwable e) {
        f.completeExceptionally(e);
      }
    }, "test-accept");
    t.setDaemon(true);
    t.start();
    return f;
  }

  private static SocketChannel connect(Endpoint e) throws IOException {
    if (e.kind() == Endpoint.Kind.ABSTRACT) {
      return AFUNIXSocket.connectTo(AFUNIXSocketAddress.inAbstractNamespace(e.abstractName().orElseThrow()))
          .getChannel();
    }
    return SocketChannel.open(UnixDomainSocketAddress.of(e.path().orElseThrow()));
  }

  /**
   * Connects a fresh client and checks that a byte it sends reaches the listener. Connections that
   * probes left in the backlog (a connect-and-close, as the broker's probe does) are skipped: a
   * daemon sees them too and must treat them as ordinary end-of-stream.
   */
  private static void assertRoundTrip(IpcListener listener, Endpoint e) throws Exception {
    try (SocketChannel client = connect(e)) {
      client.write(ByteBuffer.wrap(new byte[] {7}));
      for (int skipped = 0; skipped < 5; skipped++) {
        try (SocketChannel server = acceptAsync(listener).get(5, TimeUnit.SECONDS)) {
          ByteBuffer b = ByteBuffer.allocate(1);
          if (server.read(b) == 1) {
            assertEquals(7, b.get(0));
            return;
          }
        }
      }
      throw new AssertionError("the fresh client's byte never arrived");
    }
  }

  private static boolean threadBlockedInAccept() {
    return Thread.getAllStackTraces().entrySet().stream().anyMatch(en ->
        java.util.Arrays.stream(en.getValue()).anyMatch(f -> f.getMethodName().equals("accept")
            && f.getClassName().contains("ServerSocketChannel")));
  }
}
