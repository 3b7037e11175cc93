package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A daemon out of descriptors (its own limit lowered with {@code prlimit}, silent clients holding
 * every free one) keeps serving: accept backs off, new connections wait in the backlog, and the
 * daemon answers again as soon as descriptors are free. When it is stopped in that state, its
 * messages name the real cause.
 */
@RequiresCapability(Capability.PRLIMIT)
class DescriptorPressureTest {

  private static final Duration START = Duration.ofSeconds(20);
  private static final int HEADROOM = 8;
  private static final int SILENT_CLIENTS = 40;

  @TempDir Path runtime;

  private final List<SocketChannel> clients = new ArrayList<>();

  @AfterEach
  void closeClients() throws IOException {
    for (SocketChannel c : clients) {
      c.close();
    }
  }

  @Test
  void daemonOutOfDescriptorsKeepsServingAndAnswersOnceDescriptorsAreFree() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      exhaustDescriptors(daemon);

      assertTrue(daemon.process().isAlive(), "the daemon died of descriptor pressure:\n" + daemon.log());
      SocketChannel waiting = SocketChannel.open(UnixDomainSocketAddress.of(runtime.resolve("echo.sock")));
      clients.add(waiting);
      waiting.write(ByteBuffer.wrap("queued".getBytes(StandardCharsets.US_ASCII)));

      for (SocketChannel c : clients) {
        if (c != waiting) {
          c.close();
        }
      }
      assertEquals("echo:queued", DaemonProcessTest.readAll(waiting), "the client queued during the pressure");
      assertEquals("echo:after", echo("after"));
      assertTrue(daemon.process().isAlive(), daemon.log());
      long exhaustionLines = daemon.log().lines().filter(l -> l.contains("Too many open files")).count();
      assertTrue(exhaustionLines <= 2, "exhaustion is logged at a bounded rate:\n" + daemon.log());
    }
  }

  @Test
  void daemonStoppedWhileOutOfDescriptorsRemovesItsFilesAndSaysNothingMisleading() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      exhaustDescriptors(daemon);

      daemon.signal("TERM");
      assertEquals(143, daemon.awaitExit(START), daemon.log());
      String log = daemon.log();
      assertFalse(log.contains("no longer names this instance"), log);
      assertFalse(Files.exists(runtime.resolve("echo.lock"), LinkOption.NOFOLLOW_LINKS), "lockfile left:\n" + log);
      assertFalse(Files.exists(runtime.resolve("echo.sock"), LinkOption.NOFOLLOW_LINKS), "socket left:\n" + log);
    }
  }

  /**
   * Lowers the daemon's descriptor limit to what it uses plus {@value #HEADROOM}, then connects
   * {@value #SILENT_CLIENTS} clients that send nothing: the echo daemon holds each accepted one open,
   * so accept soon fails with EMFILE. Returns once the daemon has met it (its log says so) or died.
   */
  private void exhaustDescriptors(DaemonProcess daemon) throws Exception {
    long limit = openDescriptors(daemon.pid()) + HEADROOM;
    Process prlimit = new ProcessBuilder(Capability.PRLIMIT.executable().toString(), "--pid", Long.toString(daemon.pid()),
        "--nofile=" + limit + ":" + limit).redirectErrorStream(true).start();
    assertTrue(prlimit.waitFor(10, TimeUnit.SECONDS) && prlimit.exitValue() == 0,
        "prlimit failed: " + new String(prlimit.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    for (int i = 0; i < SILENT_CLIENTS; i++) {
      clients.add(SocketChannel.open(UnixDomainSocketAddress.of(runtime.resolve("echo.sock"))));
    }
    Await.until(START, () -> logOf(daemon).contains("Too many open files") || !daemon.process().isAlive(),
        () -> "the daemon to meet EMFILE (limit " + limit + ", " + openDescriptors(daemon.pid()) + " open):\n"
            + logOf(daemon));
  }

  private static long openDescriptors(long pid) {
    try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      return fds.count();
    } catch (IOException e) {
      return -1;
    }
  }

  private String echo(String text) throws IOException {
    try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(runtime.resolve("echo.sock")))) {
      client.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII)));
      return DaemonProcessTest.readAll(client);
    }
  }

  private static String logOf(DaemonProcess d) {
    try {
      return d.log();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
