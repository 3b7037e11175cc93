package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon bootstrap, exercised in real daemon processes. */
class DaemonProcessTest {

  static final Duration START = Duration.ofSeconds(20);
  static final Duration CALL = Duration.ofSeconds(5);

  @TempDir Path runtime;

  private Path sock() {
    return runtime.resolve("echo.sock");
  }

  private Path lockfile() {
    return runtime.resolve("echo.lock");
  }

  @Test
  void beforeServeHasDoneAnythingTheLockfileExistsTheEndpointAcceptsAndHelloSaysWarming() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of(), "warm-ms=60000")) {
      Readiness.Message ready = daemon.awaitNotification(START);
      assertEquals(Readiness.Kind.READY, ready.kind(), daemon.log());
      assertEquals(daemon.pid(), ready.pid());

      LockfileRecord record = Lockfiles.read(lockfile()).orElseThrow();
      assertEquals(daemon.pid(), record.pid());
      assertEquals(ready.instanceId(), record.instanceId());
      assertEquals("echo", record.service());
      assertEquals("1.2.3", record.daemonVersion());
      assertEquals(Endpoint.unixPath(sock()), record.endpoint());
      assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(lockfile())));
      assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock())));

      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(sock()))) {
        assertTrue(client.isConnected());
      }
      HelloReply hello = ControlClient.hello(record.controlEndpoint(), CALL);
      assertEquals(DaemonState.WARMING, hello.state());
      assertEquals(daemon.pid(), hello.pid());
      assertEquals(record.instanceId(), hello.instanceId());
      assertEquals("1.2.3", hello.version());
    }
  }

  @Test
  void clientsThatConnectDuringWarmUpAreServedOnceTheDaemonIsReady() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of(), "warm-ms=1500")) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(sock()))) {
        client.write(ByteBuffer.wrap("hi".getBytes(StandardCharsets.US_ASCII)));
        assertEquals(DaemonState.WARMING, ControlClient.hello(Lockfiles.read(lockfile()).orElseThrow()
            .controlEndpoint(), CALL).state());
        assertEquals("echo:hi", readAll(client));
      }
      HelloReply hello = ControlClient.hello(Lockfiles.read(lockfile()).orElseThrow().controlEndpoint(), CALL);
      assertEquals(DaemonState.READY, hello.state());
      assertEquals(100, hello.progressPercent());
    }
  }

  @Test
  void shutdownOverTheControlEndpointExitsZeroAndRemovesLockfileAndSockets() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      daemon.awaitNotification(START);
      LockfileRecord record = Lockfiles.read(lockfile()).orElseThrow();
      ControlClient.shutdown(record.controlEndpoint(), CALL);
      assertEquals(0, daemon.awaitExit(START), daemon.log());
      assertFalse(Files.exists(lockfile()), "lockfile left behind");
      assertFalse(Files.exists(sock()), "socket left behind");
      assertFalse(Files.exists(record.controlEndpoint().path().orElseThrow()), "control socket left behind");
    }
  }

  @Test
  void sigtermRemovesLockfileAndSockets() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      daemon.awaitNotification(START);
      daemon.signal("TERM");
      assertEquals(143, daemon.awaitExit(START), daemon.log());
      assertFalse(Files.exists(lockfile()));
      assertFalse(Files.exists(sock()));
    }
  }

  @Test
  void shutdownLeavesASuccessorsLockfileAlone() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      daemon.awaitNotification(START);
      LockfileRecord mine = Lockfiles.read(lockfile()).orElseThrow();
      LockfileRecord successor = new LockfileRecord("echo", 1, "ticks:1", mine.bootId(), mine.endpoint(),
          mine.controlEndpoint(), "9.9", LockfileRecord.newInstanceId());
      Lockfiles.write(lockfile(), successor);
      ControlClient.shutdown(mine.controlEndpoint(), CALL);
      assertEquals(0, daemon.awaitExit(START), daemon.log());
      assertEquals(successor, Lockfiles.read(lockfile()).orElseThrow());
    }
  }

  @Test
  void bindOnALiveEndpointFailsWithAlreadyBoundNeverServesAndLeavesTheLiveDaemonAlone() throws Exception {
    try (DaemonProcess first = DaemonProcess.startEcho(runtime, Map.of())) {
      first.awaitNotification(START);
      LockfileRecord live = Lockfiles.read(lockfile()).orElseThrow();
      Path otherLock = runtime.resolve("second.lock");
      try (DaemonProcess second = DaemonProcess.startEcho(runtime, Map.of(
          "FASTBIND_LOCKFILE", otherLock.toString(),
          "FASTBIND_CONTROL_ENDPOINT", "unix:" + runtime.resolve("second.ctl")), "fail-serve")) {
        Readiness.Message failed = second.awaitNotification(START);
        assertEquals(Readiness.Kind.FAILED, failed.kind());
        assertEquals(Daemon.EXIT_BIND_FAILED, second.awaitExit(START), second.log());
        assertTrue(second.log().contains("already bound"), second.log());
        assertTrue(second.log().contains("pid " + first.pid()), second.log());
        assertFalse(second.log().contains("deliberate test failure"), "serve ran after a failed bind");
        assertFalse(Files.exists(otherLock));
      }
      assertEquals(live, Lockfiles.read(lockfile()).orElseThrow());
      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(sock()))) {
        client.write(ByteBuffer.wrap("still".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("echo:still", readAll(client));
      }
    }
  }

  @Test
  void socketFileLeftByAKilledDaemonIsReclaimedByTheNext() throws Exception {
    try (DaemonProcess victim = DaemonProcess.startEcho(runtime, Map.of())) {
      victim.awaitNotification(START);
      victim.signal("KILL");
      victim.awaitExit(START);
    }
    assertTrue(Files.exists(sock()), "kill -9 leaves the socket file behind");
    try (DaemonProcess next = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Readiness.Kind.READY, next.awaitNotification(START).kind(), next.log());
      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(sock()))) {
        client.write(ByteBuffer.wrap("x".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("echo:x", readAll(client));
      }
    }
  }

  @Test
  void serveThatThrowsExitsNonZeroWithTheErrorAndCleansUp() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of(), "fail-serve")) {
      assertEquals(Daemon.EXIT_SERVE_FAILED, daemon.awaitExit(START), daemon.log());
      assertTrue(daemon.log().contains("cache index is corrupt"), daemon.log());
      assertFalse(Files.exists(lockfile()));
      assertFalse(Files.exists(sock()));
    }
  }

  @Test
  void serveThatReturnsIsTreatedAsAFailure() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of(), "return-serve")) {
      assertEquals(Daemon.EXIT_SERVE_FAILED, daemon.awaitExit(START), daemon.log());
      assertTrue(daemon.log().contains("serve must never return"), daemon.log());
    }
  }

  @Test
  void unwritableLockfileStopsTheDaemonAndDeletesNothingThatIsNotItsOwn() throws Exception {
    Path blocker = Files.createDirectory(lockfile());
    Files.writeString(blocker.resolve("keep"), "keep");
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Daemon.EXIT_CANNOT_CREATE, daemon.awaitExit(START), daemon.log());
      assertTrue(daemon.log().contains(lockfile().toString()), daemon.log());
    }
    assertEquals("keep", Files.readString(blocker.resolve("keep")));
    assertFalse(Files.exists(sock()), "the daemon's own socket is removed");
    try (var files = Files.list(runtime)) {
      assertEquals(1, files.filter(f -> !f.getFileName().toString().contains(".death-")).count(),
          "only the blocking directory remains, beside the death record");
    }
    java.util.List<dev.fastbind.backend.internal.wire.DeathRecordCodec.Entry> deaths =
        dev.fastbind.backend.internal.DeathRecords.list(lockfile());
    assertEquals(1, deaths.size(), "one record of the failed start: " + deaths);
    assertEquals(dev.fastbind.backend.internal.wire.DeathRecordCodec.Cause.STARTUP_FAILED, deaths.get(0).cause());
    assertEquals(Daemon.EXIT_CANNOT_CREATE, deaths.get(0).exitStatus());
  }

  @Test
  void runtimeDirectoryWritableByOthersIsRefused() throws Exception {
    Files.setPosixFilePermissions(runtime, PosixFilePermissions.fromString("rwxrwxrwx"));
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Readiness.Kind.FAILED, daemon.awaitNotification(START).kind());
      assertEquals(Daemon.EXIT_CANNOT_CREATE, daemon.awaitExit(START), daemon.log());
      assertTrue(daemon.log().contains("chmod 700"), daemon.log());
      assertFalse(Files.exists(sock()));
    } finally {
      Files.setPosixFilePermissions(runtime, PosixFilePermissions.fromString("rwx------"));
    }
  }

  @Test
  void invalidEndpointOrServiceMismatchIsAUsageError() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of("FASTBIND_ENDPOINT", "unix:relative.sock"))) {
      assertEquals(Daemon.EXIT_USAGE, daemon.awaitExit(START), daemon.log());
      assertTrue(daemon.log().contains("absolute"), daemon.log());
    }
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of("FASTBIND_SERVICE", "cache"))) {
      assertEquals(Daemon.EXIT_USAGE, daemon.awaitExit(START), daemon.log());
      assertTrue(daemon.log().contains("'cache'"), daemon.log());
    }
  }

  static String readAll(SocketChannel client) throws IOException {
    client.shutdownOutput();
    ByteBuffer b = ByteBuffer.allocate(1024);
    while (client.read(b) > 0) {
      // until the daemon closes
    }
    return new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII);
  }
}
