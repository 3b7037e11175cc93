package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.RequiresCapability;
import dev.fastbind.testsupport.Signals;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Daemons that never become ready: each yields a clear error, and nothing of them is left. */
class StartFailureTest {

  @TempDir Path tmp;

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    Fixtures.killMarked(dir());
  }

  private DaemonStartException startFails(ServiceDefinition def) {
    DaemonStartException e = assertThrows(DaemonStartException.class, () -> Broker.create().ensureRunning(def));
    assertTrue(Fixtures.marked(dir()).isEmpty(), "daemon processes left: " + Fixtures.marked(dir()));
    assertFalse(Files.exists(dir().resolve(def.name() + ".lock")), "lockfile left behind");
    assertFalse(Files.exists(dir().resolve(def.name() + ".notify")), "notify socket left behind");
    assertTrue(e.getMessage().contains("'" + def.name() + "'"), e.getMessage());
    return e;
  }

  @Test
  void hangBeforeBindFailsWithinTheBudgetAndLeavesNoProcess() {
    Duration budget = Duration.ofMillis(500);
    long start = System.nanoTime();
    DaemonStartException e = startFails(Fixtures.daemon(dir(), "hangs", "hang").probeBudget(budget).build());
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertEquals(DaemonStartException.Failure.TIMED_OUT, e.failure(), e.getMessage());
    assertTrue(took.compareTo(budget.plusMillis(1500)) < 0, "took " + took);
    assertTrue(e.elapsed().compareTo(budget) >= 0, "gave up early: " + e.elapsed());
    assertTrue(e.getMessage().contains("was not ready within"), e.getMessage());
  }

  @Test
  void aFailedStartLeavesADeathRecordWithItsExitStatus() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "exits", "exit3").build();
    startFails(def);
    DeathRecord d = Broker.create().lastDeath(def).orElseThrow();
    assertEquals(DeathRecord.Cause.STARTUP_FAILED, d.cause());
    assertEquals(java.util.OptionalInt.of(3), d.exitStatus());
    assertTrue(d.logTail().contains("configuration file missing"), d.logTail());
    assertTrue(d.summary().contains("failed to start with exit status 3"), d.summary());
  }

  @Test
  void exitWithStatusIsReportedWithStatusAndLogTail() {
    DaemonStartException e = startFails(Fixtures.daemon(dir(), "exits", "exit3").build());
    assertEquals(DaemonStartException.Failure.EXITED, e.failure(), e.getMessage());
    assertEquals(3, e.exitStatus().orElse(-1), e.getMessage());
    assertTrue(e.logTail().contains("configuration file missing"), e.getMessage());
    assertTrue(e.getMessage().contains("exit status 3"), e.getMessage());
    assertTrue(e.getMessage().contains("configuration file missing"), e.getMessage());
  }

  @Test
  void runtimeHaltIsReportedWithItsStatus() {
    DaemonStartException e = startFails(Fixtures.daemon(dir(), "halts", "halt").build());
    assertEquals(DaemonStartException.Failure.EXITED, e.failure());
    assertEquals(7, e.exitStatus().orElse(-1), e.getMessage());
    assertTrue(e.logTail().contains("halting"), e.getMessage());
  }

  @Test
  void deathBySignalIsReportedWithTheSignal() {
    DaemonStartException e = startFails(Fixtures.daemon(dir(), "aborts", "abort").build());
    assertEquals(DaemonStartException.Failure.EXITED, e.failure());
    assertEquals(6, e.signal().orElse(-1), e.getMessage());
    assertTrue(e.getMessage().contains("SIGABRT"), e.getMessage());
  }

  @Test
  void reportedFailureCarriesTheDecodedReason() {
    DaemonStartException e = startFails(Fixtures.daemon(dir(), "fails", "fail").build());
    assertEquals(DaemonStartException.Failure.REPORTED_FAILURE, e.failure());
    assertTrue(e.getMessage().contains("endpoint busy: 100% taken"), e.getMessage());
  }

  /**
   * The broker starts a daemon through {@code setsid}, which cannot exec the missing program and
   * exits 127 (its status for ENOENT, as a shell's for a missing command): the start fails as soon as that exit is seen, with the
   * status and setsid's reason, long before the probe budget.
   */
  @Test
  @RequiresCapability(Capability.SETSID)
  void missingProgramFailsAtOnceAsAnExitWithStatus127NotATimeout() {
    Duration budget = Duration.ofSeconds(30);
    ServiceDefinition def = ServiceDefinition.builder("nosuch").command("/nonexistent/daemon-binary")
        .runtimeDirectory(dir()).probeBudget(budget).build();
    long start = System.nanoTime();
    DaemonStartException e = startFails(def);
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertEquals(DaemonStartException.Failure.EXITED, e.failure(), e.getMessage());
    assertEquals(127, e.exitStatus().orElse(-1), e.getMessage());
    assertTrue(e.logTail().contains("/nonexistent/daemon-binary") && e.logTail().contains("No such file"),
        e.getMessage());
    assertTrue(e.getMessage().contains("exit status 127"), e.getMessage());
    assertTrue(took.compareTo(budget.dividedBy(3)) < 0, "waited " + took + " of a " + budget + " budget");
  }

  @Test
  void crashLoopGuardRefusesAfterTheLimitWithoutSpawning() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "loops", "exit3")
        .crashLoopLimit(2, Duration.ofMinutes(1)).build();
    Broker broker = Broker.create();
    assertThrows(DaemonStartException.class, () -> broker.ensureRunning(def));
    assertThrows(DaemonStartException.class, () -> broker.ensureRunning(def));
    long start = System.nanoTime();
    CrashLoopException e = assertThrows(CrashLoopException.class, () -> broker.ensureRunning(def));
    assertTrue(Duration.ofNanos(System.nanoTime() - start).toMillis() < 1000, "the refusal must be immediate");
    assertEquals(2, e.spawns());
    assertTrue(e.getMessage().contains("configuration file missing"), e.getMessage());
    assertTrue(e.retryAfter().compareTo(Duration.ZERO) > 0);
    assertTrue(Fixtures.marked(dir()).isEmpty());
  }

  @Test
  void deliberateStopsDoNotCountTowardTheCrashLoopLimitButACrashDoes() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "restarts", "good")
        .crashLoopLimit(1, Duration.ofMinutes(1)).build();
    Broker broker = Broker.create();
    try {
      assertTrue(broker.ensureRunning(def).spawned());
      assertEquals(StopResult.SHUT_DOWN, broker.stop(def, Duration.ofSeconds(10)));
      DaemonInfo second = broker.ensureRunning(def); // a limit of 1 spawn per minute, yet a restart is fine
      assertTrue(second.spawned());
      Signals.kill(second.pid());
      CrashLoopException e = assertThrows(CrashLoopException.class, () -> broker.ensureRunning(def));
      assertEquals(1, e.spawns(), e.getMessage());
    } finally {
      broker.stop(def, Duration.ofSeconds(5));
    }
  }
}
