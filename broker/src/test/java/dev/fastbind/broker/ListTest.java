package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.testsupport.Signals;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Broker#list(Path)} and {@link Broker#stop(ListedDaemon, Duration)} with real daemons. */
class ListTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() {
    Fixtures.killMarked(dir());
  }

  @Test
  void listShowsEveryVerifiedDaemonIncludingOneBesideTheFirstAndChangesNothing() throws Exception {
    DaemonInfo first = broker.ensureRunning(Fixtures.daemon(dir(), "alpha", "good", "2.1").build());
    DaemonInfo beside = broker.ensureRunning(Fixtures.daemon(dir(), "alpha", "good", "2.1")
        .compatibilityKey("index-format", "9").build());
    DaemonInfo other = broker.ensureRunning(Fixtures.daemon(dir(), "beta", "good").build());
    Files.writeString(dir().resolve("Notes.lock"), "not a lockfile of ours"); // not a service name: ignored
    List<String> before = names(dir());

    List<ListedDaemon> found = broker.list(dir());

    assertEquals(3, found.size(), () -> found.stream().map(ListedDaemon::slot).toList().toString());
    assertEquals(List.of("alpha", "alpha", "beta"), found.stream().map(ListedDaemon::service).toList());
    ListedDaemon a = found.get(0);
    assertEquals(Optional.empty(), a.compatibilityId());
    assertEquals(first.pid(), a.pid().orElseThrow());
    assertEquals(Optional.of("2.1"), a.version());
    assertTrue(a.compatibilityKey().contains("java.home="), a.compatibilityKey());
    ServiceStatus.Running running = assertInstanceOf(ServiceStatus.Running.class, a.status());
    assertTrue(running.ready());
    assertTrue(a.residentBytes().orElseThrow() > 1 << 20, "a JVM's resident memory: " + a.residentBytes());
    assertFalse(a.uptime().orElseThrow().isNegative());
    ListedDaemon b = found.get(1);
    assertEquals(beside.pid(), b.pid().orElseThrow());
    assertTrue(b.compatibilityId().isPresent());
    assertEquals("alpha~" + b.compatibilityId().get(), b.slot());
    assertEquals(b.compatibilityId(), b.compatibilityKeyId(), "the id in its file names is its key's");
    assertTrue(b.compatibilityKey().contains("index-format=9"), b.compatibilityKey());
    assertEquals(other.pid(), found.get(2).pid().orElseThrow());
    assertEquals(before, names(dir()), "list created or removed no file");
  }

  @Test
  void listReportsADeadDaemonAsStaleWithTheReasonAndLeavesItsFiles() throws Exception {
    DaemonInfo d = broker.ensureRunning(Fixtures.daemon(dir(), "alpha", "good").build());
    Signals.kill(d.pid());
    Signals.awaitGone(d.pid());

    ListedDaemon l = broker.list(dir()).get(0);

    ServiceStatus.Stale stale = assertInstanceOf(ServiceStatus.Stale.class, l.status());
    assertEquals(SpawnReason.DEAD_PID, stale.reason());
    assertTrue(l.pid().isEmpty() && l.uptime().isEmpty() && l.residentBytes().isEmpty());
    assertTrue(Files.exists(l.lockfile()), "list deletes nothing");
  }

  @Test
  void stoppingAListedDaemonBesideTheFirstStopsOnlyIt() throws Exception {
    DaemonInfo first = broker.ensureRunning(Fixtures.daemon(dir(), "alpha", "good").build());
    DaemonInfo beside = broker.ensureRunning(Fixtures.daemon(dir(), "alpha", "good")
        .compatibilityKey("index-format", "9").build());
    ListedDaemon b = broker.list(dir()).get(1);

    assertEquals(StopResult.SHUT_DOWN, broker.stop(b, Duration.ofSeconds(5)));

    Signals.awaitGone(beside.pid());
    assertTrue(ProcessHandle.of(first.pid()).map(ProcessHandle::isAlive).orElse(false));
    assertEquals(1, broker.list(dir()).size());
    assertEquals(StopResult.NOT_RUNNING, broker.stop(b, Duration.ofSeconds(5)), "idempotent");
  }

  @Test
  void aMissingDirectoryListsNothingAndAnOpenOneIsRefused() throws Exception {
    assertEquals(List.of(), broker.list(tmp.resolve("none")));
    assertFalse(Files.exists(tmp.resolve("none")));
    Path open = Files.createDirectory(tmp.resolve("open"), PosixFilePermissions.asFileAttribute(
        PosixFilePermissions.fromString("rwxrwxrwx")));
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
    RuntimeFileException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeFileException.class,
        () -> broker.list(open));
    assertTrue(e.getMessage().contains("chmod 700"), e.getMessage());
  }

  @Test
  void anExistingDefinitionReportsAndStopsADaemonStartedByAnother() throws Exception {
    DaemonInfo d = broker.ensureRunning(Fixtures.daemon(dir(), "alpha", "good").build());
    ServiceDefinition found = ServiceDefinition.existing("alpha", dir());

    ServiceStatus st = broker.status(found);
    assertEquals(d.pid(), assertInstanceOf(ServiceStatus.Running.class, st, st::toString).daemon().pid());
    assertEquals(ServiceDefinition.EXISTING_PROBE_BUDGET, found.probeBudget());
    assertEquals(StopResult.SHUT_DOWN, Broker.create().stop(found));
    Signals.awaitGone(d.pid());
  }

  private static List<String> names(Path dir) throws Exception {
    try (var s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
