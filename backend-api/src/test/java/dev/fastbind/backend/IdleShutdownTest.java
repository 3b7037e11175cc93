package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.backend.testing.EchoDaemon;
import dev.fastbind.testsupport.JavaCommand;
import java.io.File;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Idle shutdown and self-shutdown of real daemon JVMs ({@link Daemon.Builder#idleTimeout}, {@link ServeContext}). */
class IdleShutdownTest {

  @TempDir Path runtime;

  private DaemonProcess start(long idleMillis) throws IOException {
    List<String> command = JavaCommand.of(EchoDaemon.class).light()
        .jvmOptions(List.of("-Dfastbind.test.idle-ms=" + idleMillis)).build();
    return DaemonProcess.start(runtime, Map.of(), command, ProcessBuilder.Redirect.from(new File("/dev/null")));
  }

  private SocketChannel connect() throws IOException {
    return SocketChannel.open(UnixDomainSocketAddress.of(runtime.resolve("echo.sock")));
  }

  @Test
  void anIdleDaemonStopsCleanlyAndSaysWhy() throws Exception {
    try (DaemonProcess daemon = start(300)) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      assertEquals(0, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      assertTrue(daemon.log().contains("idle for"), daemon.log());
      assertTrue(daemon.log().contains("idle timeout PT0.3S"), daemon.log());
      assertFalse(Files.exists(runtime.resolve("echo.lock")), "the lockfile is removed");
      assertFalse(Files.exists(runtime.resolve("echo.sock")), "the socket file is removed");
    }
  }

  @Test
  void anOpenConnectionKeepsTheDaemonUpAndClosingItStartsTheIdleClock() throws Exception {
    try (DaemonProcess daemon = start(300)) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      try (SocketChannel held = connect()) {
        // Held open and silent, the connection keeps the daemon busy for many idle timeouts.
        assertFalse(daemon.process().waitFor(1500, TimeUnit.MILLISECONDS),
            "the daemon stopped with a connection open: " + daemon.log());
        held.write(ByteBuffer.wrap("hi".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("echo:hi", DaemonProcessTest.readAll(held));
      }
      long closed = System.nanoTime();
      assertEquals(0, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      long afterMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - closed);
      assertTrue(afterMillis >= 250, "it waited for the idle timeout after the last activity: " + afterMillis + " ms");
      assertTrue(daemon.log().contains("idle for"), daemon.log());
    }
  }

  @Test
  void serveCanAskForItsOwnShutdownWithAReason() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      try (SocketChannel c = connect()) {
        c.write(ByteBuffer.wrap("stop:config changed".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("echo:stop:config changed", DaemonProcessTest.readAll(c),
            "the request that asked is still answered");
      }
      assertEquals(0, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      assertTrue(daemon.log().contains("shutting down: a client asked: config changed"), daemon.log());
      assertFalse(Files.exists(runtime.resolve("echo.lock")));
    }
  }
}
