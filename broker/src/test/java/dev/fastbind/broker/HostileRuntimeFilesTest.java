package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile files where the broker keeps its own runtime files, through {@link Broker#ensureRunning}
 * and {@link Broker#stop}: each is reported at once with its path and the fix, left where it is,
 * and neither hangs nor exhausts the launcher. {@code assertTimeoutPreemptively} only turns a hang
 * into a failure; what is measured is the elapsed time against the patience.
 */
class HostileRuntimeFilesTest {

  /** The safety net: a hang on a FIFO lasts forever. */
  private static final Duration NET = Duration.ofSeconds(30);

  @TempDir Path tmp;

  private final Broker broker = Broker.create();
  private final List<Path> fifos = new ArrayList<>();
  private final List<Process> launchers = new ArrayList<>();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @BeforeEach
  void directory() throws Exception {
    RuntimeDirectory.ensureOwnerOnly(dir());
  }

  @AfterEach
  void cleanUp() throws Exception {
    try {
      // A read-write open of a FIFO completes any open still blocked on it, so no thread stays stuck.
      for (Path f : fifos) {
        if (Files.exists(f, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
          FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE).close();
        }
      }
      for (Process p : launchers) {
        Cleanup.killTree(p);
      }
    } finally {
      Fixtures.killMarked(dir());
    }
  }

  private Path fifo(String name) throws Exception {
    Path at = dir().resolve(name);
    Process p = new ProcessBuilder(Capability.MKFIFO.executable().toString(), at.toString()).start();
    assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, "mkfifo " + at);
    fifos.add(at);
    return at;
  }

  private ServiceDefinition definition() {
    return Fixtures.daemon(dir(), "svc", "good").spawnLockPatience(Duration.ofSeconds(1)).build();
  }

  private static void assertNamesPathAndFix(Path path, String found, Exception e) {
    String m = e.getMessage();
    assertTrue(m.contains(path.toString()) && m.contains(found) && m.contains("remove it"), m);
  }

  private void assertNothingSpawned() {
    assertEquals(List.of(), Fixtures.marked(dir()), "no daemon was started");
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoAtTheSpawnLockFailsEnsureRunningAndStopWithinThePatienceNamingItAndTheFix() throws Exception {
    ServiceDefinition def = definition();
    Path lock = fifo("svc.spawn-lock");
    Duration margin = Duration.ofSeconds(2);
    for (String call : new String[] {"ensureRunning", "stop"}) {
      long start = System.nanoTime();
      RuntimeFileException e = assertTimeoutPreemptively(NET, () -> assertThrows(RuntimeFileException.class,
          () -> {
            if (call.equals("ensureRunning")) {
              broker.ensureRunning(def);
            } else {
              broker.stop(def);
            }
          }), call);
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      assertTrue(took.compareTo(def.spawnLockPatience().plus(margin)) < 0, call + " took " + took);
      assertNamesPathAndFix(lock, "is a FIFO, not a regular file", e);
      assertEquals(lock, e.path());
    }
    assertTrue(Files.exists(lock, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(lock), "the FIFO is left alone");
    assertNothingSpawned();
  }

  @Test
  void aSparseGigabyteSpawnsFileDoesNotExhaustALauncherWithA64MiBHeap() throws Exception {
    Path spawns = dir().resolve("svc.spawns");
    try (RandomAccessFile f = new RandomAccessFile(spawns.toFile(), "rw")) {
      f.setLength(1L << 30);
    }
    Path out = tmp.resolve("launcher.out");
    List<String> cmd = JavaCommand.of(TestLauncher.class).light() // -Xmx64m
        .args(dir().toString(), "svc", "20000", "0", Fixtures.marker(dir())).build();
    Process launcher = new ProcessBuilder(cmd)
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
        .redirectErrorStream(true).redirectOutput(out.toFile()).start();
    launchers.add(launcher);
    if (!launcher.waitFor(60, TimeUnit.SECONDS)) {
      fail("launcher did not finish: " + Files.readString(out));
    }
    String output = Files.readString(out, StandardCharsets.UTF_8);
    assertEquals(0, launcher.exitValue(), output);
    assertTrue(output.contains("PID "), output);
    assertTrue(Files.size(spawns) < 200, "a file in another shape counts as empty and is rewritten: "
        + Files.size(spawns) + " bytes");
  }

  @Test
  void aLinkOrADirectoryAtTheSpawnsFileIsReportedKeptAndNothingIsSpawned() throws Exception {
    ServiceDefinition def = definition();
    Path spawns = dir().resolve("svc.spawns");
    Path target = tmp.resolve("elsewhere");
    Files.createSymbolicLink(spawns, target);
    RuntimeFileException e = assertThrows(RuntimeFileException.class, () -> broker.ensureRunning(def));
    assertNamesPathAndFix(spawns, "is a symbolic link", e);
    assertTrue(Files.isSymbolicLink(spawns), "the link is kept");
    assertFalse(Files.exists(target, LinkOption.NOFOLLOW_LINKS), "nothing written through it");
    Files.delete(spawns);
    Files.createDirectories(spawns.resolve("inside"));
    e = assertThrows(RuntimeFileException.class, () -> broker.ensureRunning(def));
    assertNamesPathAndFix(spawns, "is a directory", e);
    assertTrue(Files.isDirectory(spawns.resolve("inside")), "the directory is kept");
    assertNothingSpawned();
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoAtTheLogIsReportedBeforeTheCrashLoopGuardAndNeverOpened() throws Exception {
    ServiceDefinition def = definition();
    Path log = fifo("svc.log");
    // Three recent spawns in this boot: the log is checked first, so the report names the FIFO (the
    // crash-loop error would read the log's tail) and no spawn slot is used up.
    long now = System.nanoTime();
    Path spawns = dir().resolve("svc.spawns");
    String recent = "fastbind-spawns 1\nboot " + ProcessIdentity.bootId() + "\n" + now + "\n" + now + "\n" + now + "\n";
    Files.writeString(spawns, recent, StandardCharsets.US_ASCII);
    RuntimeFileException first = assertTimeoutPreemptively(NET,
        () -> assertThrows(RuntimeFileException.class, () -> broker.ensureRunning(def)));
    assertNamesPathAndFix(log, "is a FIFO", first);
    assertEquals(recent, Files.readString(spawns, StandardCharsets.US_ASCII), "a crash-loop slot was used up");

    Files.delete(spawns);
    RuntimeFileException e = assertTimeoutPreemptively(NET,
        () -> assertThrows(RuntimeFileException.class, () -> broker.ensureRunning(def)));
    assertNamesPathAndFix(log, "is a FIFO", e);
    assertTrue(Files.exists(log, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(log), "the FIFO is left alone");
    assertNothingSpawned();
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoAtTheNotifySocketIsReportedAndKeptInsteadOfDeleted() throws Exception {
    ServiceDefinition def = definition();
    Path notify = fifo("svc.notify");
    RuntimeFileException e = assertTimeoutPreemptively(NET,
        () -> assertThrows(RuntimeFileException.class, () -> broker.ensureRunning(def)));
    assertNamesPathAndFix(notify, "is a FIFO, not a socket", e);
    assertTrue(Files.exists(notify, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(notify), "the FIFO is kept");
    assertNothingSpawned();
  }

  @Test
  void tempFilesLeftByKilledWritersAreRemovedUnderTheSpawnLock() throws Exception {
    Process writer = new ProcessBuilder("true").start();
    writer.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS); // a writer that is gone
    Path lockTemp = dir().resolve(".svc.lock." + Long.toHexString(writer.pid()) + "-1a2b3c.tmp");
    Path spawnsTemp = dir().resolve("svc.spawns.tmp");
    Path mine = dir().resolve(".svc.lock." + Long.toHexString(ProcessHandle.current().pid()) + "-4d5e.tmp");
    Files.writeString(lockTemp, "torn");
    Files.writeString(spawnsTemp, "torn");
    Files.writeString(mine, "a live writer's");
    broker.ensureRunning(definition());
    assertFalse(Files.exists(lockTemp), "a dead writer's lockfile temp was kept");
    assertFalse(Files.exists(spawnsTemp), "the spawns temp was kept");
    assertTrue(Files.exists(mine), "a live writer's temp was removed");
  }
}
