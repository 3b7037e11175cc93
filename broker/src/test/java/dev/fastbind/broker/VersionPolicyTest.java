package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Version fights, with real daemons reporting real versions: by default a launcher replaces an older
 * daemon and never a newer one, so two installs used in turn settle on the newer daemon.
 */
class VersionPolicyTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    Fixtures.killMarked(dir());
  }

  /** A launcher that defines {@code version} and runs a daemon reporting it, with the default policy. */
  private ServiceDefinition.Builder install(String version) {
    return Fixtures.daemon(dir(), "svc", "good", version).version(version);
  }

  private static void assertGone(long pid) throws Exception {
    Optional<ProcessHandle> h = ProcessHandle.of(pid);
    if (h.isPresent()) {
      h.get().onExit().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aNewerDaemonSurvivesAnOlderLaunchersEnsureRunning() throws Exception {
    DaemonInfo newer = broker.ensureRunning(install("2.0").build());

    DaemonInfo got = broker.ensureRunning(install("1.0").build());
    assertFalse(got.spawned(), "the older launcher replaced the newer daemon: " + got.spawnDetail());
    assertEquals(newer.pid(), got.pid());
    assertEquals(newer.instanceId(), got.instanceId());
    assertEquals(Optional.of("2.0"), got.version(), "the launcher is told which version it talks to");
    assertEquals(newer.pid(), EnsureRunningTest.askPid(got), "the newer daemon answers");
    assertEquals(List.of(newer.pid()), Fixtures.marked(dir()).stream().map(ProcessHandle::pid).toList());
  }

  @Test
  void anOlderDaemonIsReplacedByNumbersNotByText() throws Exception {
    // As text, "1.9" sorts after "1.10" and "1.10.0-SNAPSHOT" after "1.10.0": an order by text would keep both.
    DaemonInfo old = broker.ensureRunning(install("1.9").build());
    DaemonInfo ten = broker.ensureRunning(install("1.10.0-SNAPSHOT").build());
    assertEquals(Optional.of(SpawnReason.VERSION_MISMATCH), ten.spawnReason());
    assertTrue(ten.spawnDetail().contains("ran version 1.9, expected 1.10.0-SNAPSHOT"), ten.spawnDetail());
    assertGone(old.pid());

    DaemonInfo release = broker.ensureRunning(install("1.10.0").build());
    assertEquals(Optional.of(SpawnReason.VERSION_MISMATCH), release.spawnReason());
    assertEquals(Optional.of("1.10.0"), release.version());
    assertGone(ten.pid());
    assertEquals(release.pid(), EnsureRunningTest.askPid(release));
  }

  @Test
  void restartEvenIfNewerIsTheOptInToDowngrade() throws Exception {
    DaemonInfo newer = broker.ensureRunning(install("2.0").build());

    DaemonInfo older = broker.ensureRunning(install("1.0").versionPolicy(VersionPolicy.RESTART_EVEN_IF_NEWER).build());
    assertTrue(older.spawned());
    assertEquals(Optional.of(SpawnReason.VERSION_MISMATCH), older.spawnReason());
    assertTrue(older.spawnDetail().contains("downgrade"), older.spawnDetail());
    assertEquals(Optional.of("1.0"), older.version());
    assertNotEquals(newer.pid(), older.pid());
    assertGone(newer.pid());
    assertEquals(older.pid(), EnsureRunningTest.askPid(older));
  }

  @Test
  void twoInstallsUsedInTurnStopRestartingEachOtherAfterTheFirstUpgrade() throws Exception {
    ServiceDefinition one = install("1.0").build();
    ServiceDefinition two = install("2.0").build();

    assertEquals(Optional.of(SpawnReason.ABSENT), broker.ensureRunning(one).spawnReason());
    DaemonInfo upgraded = broker.ensureRunning(two);
    assertEquals(Optional.of(SpawnReason.VERSION_MISMATCH), upgraded.spawnReason());

    for (int round = 0; round < 3; round++) {
      for (ServiceDefinition def : List.of(one, two)) {
        DaemonInfo got = broker.ensureRunning(def);
        assertFalse(got.spawned(), "round " + round + ", " + def.version().orElseThrow() + " restarted the daemon: "
            + got.spawnReason() + " " + got.spawnDetail());
        assertEquals(upgraded.pid(), got.pid());
      }
    }
    assertEquals(upgraded.pid(), EnsureRunningTest.askPid(upgraded));
    assertEquals(1, Fixtures.marked(dir()).size(), "exactly one daemon runs");
  }

  @Test
  void failOnANewerDaemonNamesBothVersionsAndTheWaysOut() throws Exception {
    DaemonInfo newer = broker.ensureRunning(install("2.0").build());

    VersionMismatchException e = assertThrows(VersionMismatchException.class,
        () -> broker.ensureRunning(install("1.0").versionPolicy(VersionPolicy.FAIL).build()));
    assertEquals("2.0", e.running());
    assertEquals("1.0", e.expected());
    assertEquals(newer.pid(), e.pid());
    String m = e.getMessage();
    for (String part : List.of("'svc'", "pid " + newer.pid(), "runs version 2.0, newer than the expected 1.0",
        "upgrade this launcher", "Broker.stop", "VersionPolicy.RESTART_EVEN_IF_NEWER")) {
      assertTrue(m.contains(part), "missing '" + part + "' in: " + m);
    }
    assertEquals(newer.pid(), EnsureRunningTest.askPid(newer), "the daemon was left running");
  }
}
