package dev.fastbind.broker.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

@RequiresCapability(Capability.SLEEP)
class ProcessWatchTest {

  private static void assumeProcfs() {
    assumeTrue(Files.isDirectory(Path.of("/proc/self")), "needs procfs");
  }

  @Test
  void keepsOneHandlePerLiveProcessAndReadsItAfreshEachTime() throws Exception {
    assumeProcfs();
    Process child = new ProcessBuilder(Capability.SLEEP.executable().toString(), "30").start();
    try {
      ProcessWatch watch = new ProcessWatch();
      ProcessIdentity.Stat first = watch.stat(child.pid());
      assertNotNull(first);
      assertEquals(ProcessIdentity.startTime(child.pid()).orElseThrow(), first.startTime());
      assertEquals(1, watch.openCount());
      assertEquals(first.startTime(), watch.stat(child.pid()).startTime());
      assertEquals(1, watch.openCount());

      child.destroy();
      child.onExit().get(30, TimeUnit.SECONDS);
      assertNull(watch.stat(child.pid()), "a reaped process reads as gone through the kept handle");
      assertEquals(0, watch.openCount(), "the handle of a gone process is closed");
    } finally {
      Cleanup.killTree(child);
    }
  }

  @Test
  void aKeptHandleFailsOnceItsProcessIsGoneWhateverHasThePidNow() throws Exception {
    assumeProcfs();
    Process child = new ProcessBuilder(Capability.SLEEP.executable().toString(), "30").start();
    try (java.nio.channels.FileChannel handle = ProcessIdentity.openStat(child.pid())) {
      assertNotNull(ProcessIdentity.readStat(handle));
      child.destroy();
      child.onExit().get(30, TimeUnit.SECONDS);
      assertNull(ProcessIdentity.readStat(handle), "the handle is bound to the process, not to its pid");
    } finally {
      Cleanup.killTree(child);
    }
  }

  @Test
  void anUnknownPidIsNullAndKeepsNothingOpen() {
    ProcessWatch watch = new ProcessWatch();
    assertNull(watch.stat(Integer.MAX_VALUE));
    assertEquals(0, watch.openCount());
  }

  @Test
  void keepsAtMostABoundedNumberOfHandles() throws Exception {
    assumeProcfs();
    ProcessWatch watch = new ProcessWatch();
    long me = ProcessHandle.current().pid();
    assertNotNull(watch.stat(me));
    ProcessHandle parent = ProcessHandle.current().parent().orElseThrow();
    assertNotNull(watch.stat(parent.pid()));
    assertEquals(2, watch.openCount());
    java.util.List<Process> children = new java.util.ArrayList<>();
    try {
      for (int i = 0; i < ProcessWatch.MAX_OPEN + 2; i++) {
        Process c = new ProcessBuilder(Capability.SLEEP.executable().toString(), "30").start();
        children.add(c);
        assertNotNull(watch.stat(c.pid()));
      }
      assertEquals(true, watch.openCount() <= ProcessWatch.MAX_OPEN, "open: " + watch.openCount());
    } finally {
      Cleanup.killAll(children.stream().map(Process::toHandle).toList(), Cleanup.DEFAULT_WAIT);
    }
  }
}
