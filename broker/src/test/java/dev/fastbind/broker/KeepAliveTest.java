package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.Signals;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kept-alive brokered daemons ({@code ServiceDefinition.Builder.keepAlive}) with real daemons the
 * broker spawns and real {@code kill -9}s of them (marked processes this test started): restarted
 * within the budget, not past it, and not after a stop.
 */
@Timeout(120)
class KeepAliveTest {
  private static final Duration PATIENT = Fixtures.PATIENT;

  @TempDir Path dir;

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final Broker broker = Broker.create(registry);

  @BeforeEach
  void directory() throws Exception {
    RuntimeDirectory.ensureOwnerOnly(dir);
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    // A stop is on purpose: the watching broker does not restart what it stops (a kill would be).
    broker.stop(kept(1));
    Fixtures.killMarked(dir);
  }

  private ServiceDefinition kept(int intensity) {
    return Fixtures.daemon(dir, "kept", "good").keepAlive(Supervision.oneForOne(intensity, Duration.ofMinutes(1)))
        .build();
  }

  private double events(String event, String reason) {
    Counter c = registry.find("fastbind.pool.events").tag("pool", "kept").tag("event", event).tag("reason", reason)
        .counter();
    return c == null ? 0 : c.count();
  }

  /** {@code kill -9} of {@code pid}, only once it is among this test's marked daemons. */
  private void killOurDaemon(long pid) {
    assertTrue(Fixtures.marked(dir).stream().anyMatch(h -> h.pid() == pid), pid + " is not a daemon this test started");
    Signals.kill(pid);
  }

  private long runningPid(ServiceDefinition def) throws Exception {
    ServiceStatus s = broker.status(def);
    return s instanceof ServiceStatus.Running r ? r.daemon().pid() : -1;
  }

  @Test
  void aKeptAliveDaemonKilledFromOutsideIsRestartedByTheBrokerThatWatchesIt() throws Exception {
    ServiceDefinition def = kept(2);
    long first = broker.ensureRunning(def).pid();
    killOurDaemon(first);
    long[] next = {-1};
    Await.until(PATIENT, () -> {
      try {
        next[0] = runningPid(def);
      } catch (Exception e) {
        next[0] = -1;
      }
      return next[0] > 0 && next[0] != first;
    }, () -> "not restarted after kill -9 of " + first);
    // The count follows the restart's return, a moment after the new daemon already answers status.
    Await.until(PATIENT, () -> events("restarted", "") == 1.0, () -> "the restart was not counted");
    assertEquals(1.0, events("died", "vanished"));
  }

  @Test
  void pastItsBudgetAKeptAliveDaemonIsNotRestartedAndTheNextEnsureSaysWhy() throws Exception {
    ServiceDefinition def = kept(1);
    long first = broker.ensureRunning(def).pid();
    killOurDaemon(first);
    Await.until(PATIENT, () -> events("restarted", "") == 1.0, () -> "no restart after the first kill");
    long second = broker.ensureRunning(def).pid();
    assertTrue(second != first);
    killOurDaemon(second);
    Await.until(PATIENT, () -> events("gave-up", "") == 1.0, () -> "the broker did not give up after the second kill");
    assertEquals(-1, runningPid(def));
    CrashLoopException e = assertThrows(CrashLoopException.class, () -> broker.ensureRunning(def));
    assertTrue(e.getMessage().contains("kept"), e.getMessage());
  }

  /**
   * Two launcher processes watch one kept-alive daemon: a kill is restarted once (one spawn counted,
   * both launchers then on the same daemon), and the next kill finds the budget they share used up,
   * so neither restarts it.
   */
  @Test
  void launcherProcessesWatchingOneDaemonShareOneRestartBudget() throws Exception {
    ServiceDefinition def = kept(1);
    long first = broker.ensureRunning(def).pid();
    List<Process> watchers = new ArrayList<>();
    List<Path> outputs = new ArrayList<>();
    try {
      for (int i = 0; i < 2; i++) {
        Path out = dir.resolve("watcher" + i + ".out");
        outputs.add(out);
        watchers.add(new ProcessBuilder(JavaCommand.of(TestLauncher.class).light().jvmOptions("-Dfastbind.test.keep-alive=1")
            .args(dir.toString(), "kept", "10000", "60000", Fixtures.marker(dir)).build())
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
            .redirectErrorStream(true).redirectOutput(out.toFile()).start());
      }
      for (Path out : outputs) {
        Await.until(PATIENT, () -> read(out).contains("PID " + first + " REUSED"), () -> "a watcher did not find "
            + first + ": " + read(out));
      }
      killOurDaemon(first);
      long[] second = {-1};
      Await.until(PATIENT, () -> {
        second[0] = runningPidQuietly(def);
        return second[0] > 0 && second[0] != first;
      }, () -> "not restarted after kill -9 of " + first + "; watchers said: " + read(outputs.get(0)) + " / "
          + read(outputs.get(1)));
      Await.until(PATIENT, () -> spawnsCounted() == 2, () -> "spawns counted: " + spawnsCounted());
      // This JVM's broker watches too; every watcher of the second daemon must see the budget used up.
      broker.ensureRunning(def);
      killOurDaemon(second[0]);
      Await.until(PATIENT, () -> read(outputs.get(0)).contains("is not restarted")
          && read(outputs.get(1)).contains("is not restarted") && events("gave-up", "") == 1.0,
          () -> "the watchers did not all give up: " + read(outputs.get(0)) + " / " + read(outputs.get(1)));
      assertEquals(-1, runningPid(def));
      assertEquals(2, spawnsCounted(), "no watcher spawned past the budget");
    } finally {
      for (Process w : watchers) {
        Cleanup.killTree(w);
      }
    }
  }

  private static String read(Path p) {
    try {
      return Files.exists(p) ? Files.readString(p) : "";
    } catch (java.io.IOException e) {
      return "(unreadable: " + e + ")";
    }
  }

  private long runningPidQuietly(ServiceDefinition def) {
    try {
      return runningPid(def);
    } catch (Exception e) {
      return -1;
    }
  }

  /** The spawns in the crash-loop count (the file after its two header lines). */
  private long spawnsCounted() {
    String text = read(dir.resolve("kept.spawns"));
    return text.isEmpty() ? 0 : text.lines().skip(2).filter(l -> !l.isBlank()).count();
  }

  @Test
  void aStoppedKeptAliveDaemonStaysStopped() throws Exception {
    ServiceDefinition def = kept(3);
    broker.ensureRunning(def);
    broker.stop(def);
    Await.until(PATIENT, () -> events("died", "shutdown_request") == 1.0, () -> "the stop's death was not seen");
    assertEquals(0.0, events("restarted", ""));
    assertEquals(-1, runningPid(def));
  }
}
