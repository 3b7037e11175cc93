package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.backend.testing.RacingEchoDaemon;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.JavaCommand;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Daemons started directly (no broker, no spawn lock) and released at the same moment on one
 * endpoint: the bind is the election, so exactly one serves with all its files in place and every
 * other one exits {@value Daemon#EXIT_BIND_FAILED} naming the winner. Every second round starts
 * with dead socket files at both endpoints, which all the racers reclaim at once.
 */
class RacingDaemonsTest {

  private static final int DAEMONS = 8;
  private static final int ROUNDS = 4;
  private static final Duration START = Duration.ofSeconds(20);

  @TempDir Path runtime;

  private final List<DaemonProcess> started = new ArrayList<>();

  @AfterEach
  void killWhatIsLeft() throws Exception {
    for (DaemonProcess d : started) {
      d.close();
    }
  }

  @Test
  void daemonsReleasedTogetherElectExactlyOneWinnerWhoseSocketControlSocketAndLockfileStayInPlace()
      throws Exception {
    Path sock = runtime.resolve("echo.sock");
    Path ctl = runtime.resolve("echo.ctl");
    Path lock = runtime.resolve("echo.lock");
    for (int round = 1; round <= ROUNDS; round++) {
      List<DaemonProcess> racers = new ArrayList<>();
      for (int i = 0; i < DAEMONS; i++) {
        DaemonProcess d = DaemonProcess.start(runtime, Map.of(),
            JavaCommand.of(RacingEchoDaemon.class).light().build(), ProcessBuilder.Redirect.PIPE);
        started.add(d);
        racers.add(d);
      }
      for (DaemonProcess d : racers) {
        Await.until(START, () -> logOf(d).contains("armed") || !d.process().isAlive(), () -> "daemon armed: " + logOf(d));
      }
      if (round % 2 == 0) {
        // As a daemon killed with kill -9 leaves them: every racer finds them dead and reclaims at once.
        leaveStaleSocketFile(sock);
        leaveStaleSocketFile(ctl);
      }
      for (DaemonProcess d : racers) {
        OutputStream gate = d.process().getOutputStream();
        gate.write('g');
        gate.flush();
      }
      int r = round;
      Await.until(START, () -> racers.stream().filter(d -> d.process().isAlive()).count() <= 1,
          () -> "round " + r + ": all but one daemon to exit; alive: "
              + racers.stream().filter(d -> d.process().isAlive()).map(DaemonProcess::pid).toList());
      List<DaemonProcess> alive = racers.stream().filter(d -> d.process().isAlive()).toList();
      assertEquals(1, alive.size(), "round " + round + ": exactly one daemon serves; logs:\n" + logs(racers));
      DaemonProcess winner = alive.get(0);
      assertTrue(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "round " + round + ": socket file in place; files: "
          + listing() + "; logs:\n" + logs(racers));
      assertTrue(Files.exists(ctl, LinkOption.NOFOLLOW_LINKS), "round " + round + ": control socket in place");
      Await.until(START, () -> Files.exists(lock, LinkOption.NOFOLLOW_LINKS), () -> "the winner's lockfile");
      LockfileRecord record = Lockfiles.read(lock).orElseThrow();
      assertEquals(winner.pid(), record.pid(), "round " + round + ": the lockfile names the winner");
      assertEquals(winner.pid(), ControlClient.hello(record.controlEndpoint(), Duration.ofSeconds(5)).pid());
      assertEquals("echo:r" + round, echo(sock, "r" + round));
      for (DaemonProcess loser : racers) {
        if (loser == winner) {
          continue;
        }
        assertEquals(Daemon.EXIT_BIND_FAILED, loser.awaitExit(START), loser.log());
        String log = loser.log();
        assertTrue(log.contains("already bound") && log.contains("(pid " + winner.pid() + ")"),
            "round " + round + ": a loser names the winner, pid " + winner.pid() + ":\n" + log);
      }
      ControlClient.shutdown(record.controlEndpoint(), Duration.ofSeconds(5));
      assertEquals(0, winner.awaitExit(START), winner.log());
      assertTrue(!Files.exists(sock, LinkOption.NOFOLLOW_LINKS) && !Files.exists(lock, LinkOption.NOFOLLOW_LINKS),
          "the winner removed its files on SHUTDOWN");
      for (DaemonProcess d : racers) {
        d.close();
      }
      started.removeAll(racers);
    }
  }

  private String listing() throws IOException {
    try (var files = Files.list(runtime)) {
      return files.map(p -> p.getFileName().toString()).sorted().toList().toString();
    }
  }

  private static void leaveStaleSocketFile(Path path) throws IOException {
    try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(path));
    }
    assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS), "closing a listener leaves its socket file");
  }

  private static String echo(Path sock, String text) throws IOException {
    try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
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

  private static String logs(List<DaemonProcess> ds) {
    StringBuilder b = new StringBuilder();
    for (DaemonProcess d : ds) {
      b.append("--- pid ").append(d.pid()).append(d.process().isAlive() ? " (alive)" : " exit " + d.process().exitValue())
          .append('\n').append(logOf(d));
    }
    return b.toString();
  }
}
