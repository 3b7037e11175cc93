package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.DeathRecords;
import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.backend.testing.EchoDaemon;
import dev.fastbind.testsupport.JavaCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A private worker's tie to its owner ({@code FASTBIND_OWNER}), in real daemon processes: the end of
 * file on its standard input ends it in order, and a worker whose owner is already gone does not
 * start. (The owner's {@code kill -9} ending workers and their children is {@code WorkerPoolTest}'s.)
 */
class OwnerWatchTest {

  private static final Duration START = Duration.ofSeconds(20);

  @TempDir Path runtime;

  @Test
  void aWorkerEndsInOrderWhenItsOwnersPipeReachesEndOfFile() throws Exception {
    Map<String, String> env = Map.of(Env.OWNER, Long.toString(ProcessHandle.current().pid()));
    try (DaemonProcess worker = DaemonProcess.start(runtime, env, JavaCommand.of(EchoDaemon.class).light().build(),
        ProcessBuilder.Redirect.PIPE)) {
      assertEquals(Readiness.Kind.READY, worker.awaitNotification(START).kind(), worker.log());
      assertTrue(watchesItsOwner(worker.pid()), "no owner-watch thread in the worker");
      Path lockfile = runtime.resolve("echo.lock");
      assertTrue(Files.exists(lockfile));
      worker.process().getOutputStream().close(); // as the owner's death would: end of file
      assertEquals(0, worker.awaitExit(START), worker.log());
      assertFalse(Files.exists(lockfile), "the worker removed its lockfile");
      List<DeathRecordCodec.Entry> deaths = DeathRecords.list(lockfile);
      assertEquals(1, deaths.size(), deaths.toString());
      assertEquals(DeathRecordCodec.Cause.OWNER_GONE, deaths.get(0).cause(), deaths.toString());
    }
  }

  /**
   * Whether process {@code pid} runs the owner watch: a thread named {@code fastbind-owner-watch},
   * as the kernel shows it ({@code /proc/<pid>/task/<tid>/comm}, cut to 15 characters).
   */
  private static boolean watchesItsOwner(long pid) throws java.io.IOException {
    try (var tasks = Files.newDirectoryStream(Path.of("/proc/" + pid + "/task"))) {
      for (Path task : tasks) {
        try {
          if (Files.readString(task.resolve("comm")).trim().equals("fastbind-owner-")) {
            return true;
          }
        } catch (java.nio.file.NoSuchFileException threadEnded) {
          // a thread that ended while listed
        }
      }
    }
    return false;
  }

  @Test
  void aWorkerWhoseOwnerIsGoneBeforeItsBootstrapRunsDoesNotStart() throws Exception {
    // An owner that has exited: a process this test started and reaped.
    Process owner = new ProcessBuilder("true").start();
    owner.waitFor();
    Map<String, String> env = Map.of(Env.OWNER, Long.toString(owner.pid()));
    try (DaemonProcess worker = DaemonProcess.start(runtime, env, JavaCommand.of(EchoDaemon.class).light().build(),
        ProcessBuilder.Redirect.PIPE)) {
      assertEquals(Daemon.EXIT_USAGE, worker.awaitExit(START), worker.log());
      assertTrue(worker.log().contains("its owner, pid " + owner.pid()) && worker.log().contains("is gone already"),
          worker.log());
      assertFalse(Files.exists(runtime.resolve("echo.sock")), "nothing was bound");
    }
  }

  @Test
  void aProcessThatInheritedTheOwnerVariableButIsNotTheOwnersChildIgnoresIt() throws Exception {
    // The owner lives (a process of this test's own), but is not the daemon's parent: the variable
    // was inherited from a worker, so it is not this process's to act on.
    Process owner = new ProcessBuilder("sleep", "60").start();
    try {
      Map<String, String> env = Map.of(Env.OWNER, Long.toString(owner.pid()));
      try (DaemonProcess d = DaemonProcess.start(runtime, env, JavaCommand.of(EchoDaemon.class).light().build(),
          ProcessBuilder.Redirect.PIPE)) {
        assertEquals(Readiness.Kind.READY, d.awaitNotification(START).kind(), d.log());
        assertFalse(watchesItsOwner(d.pid()), "a process that is not the owner's child watches its stdin");
        d.process().getOutputStream().close();
        // It keeps serving; had it watched the pipe, its end would be recorded as OWNER_GONE below.
        assertTrue(d.process().isAlive(), d.log());
        d.signal("TERM");
        d.awaitExit(START);
        assertTrue(DeathRecords.list(runtime.resolve("echo.lock")).stream()
            .noneMatch(e -> e.cause() == DeathRecordCodec.Cause.OWNER_GONE), "it did not end as an owned worker");
      }
    } finally {
      owner.destroyForcibly();
      owner.waitFor();
    }
  }
}
