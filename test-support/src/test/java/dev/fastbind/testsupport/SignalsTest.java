package dev.fastbind.testsupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

@RequiresCapability(Capability.SLEEP)
class SignalsTest {

  @Test
  void refusesPidZeroOneAndTheTestJvmAndItsGroup() {
    long self = ProcessHandle.current().pid();
    long group = ProcState.self().processGroup();
    for (long pid : new long[] {-1, 0, 1, self}) {
      assertThrows(IllegalArgumentException.class, () -> Signals.send("KILL", pid), "pid " + pid);
    }
    assertThrows(IllegalArgumentException.class, () -> Signals.send("KILL", group));
    assertThrows(IllegalArgumentException.class, () -> Signals.sendToGroup("KILL", group));
    assertThrows(IllegalArgumentException.class, () -> Signals.sendToGroup("KILL", 1));
  }

  @Test
  void stopReturnsOnceProcShowsTheProcessStoppedAndKillOnceItIsGone() throws Exception {
    Process sleep = new ProcessBuilder(Capability.SLEEP.executable().toString(), "30").start();
    try {
      Signals.stop(sleep.pid());
      assertTrue(ProcState.read(sleep.pid()).orElseThrow().stopped());
      Signals.send("CONT", sleep.pid());
      Signals.kill(sleep.pid());
      assertTrue(Signals.isGone(sleep.pid()));
    } finally {
      Cleanup.killTree(sleep);
    }
  }

  @Test
  void procStateReadsPastParenthesesInTheCommandName() {
    ProcState self = ProcState.self();
    assertEquals(ProcessHandle.current().pid(), self.pid());
    assertEquals(ProcessHandle.current().parent().orElseThrow().pid(), self.parent());
    assertFalse(self.stopped() || self.ended());
  }

  @Test
  @RequiresCapability(Capability.SH)
  void cleanupKillsTheWholeTreeEvenAfterTheRootIsGone() throws Exception {
    Process sh = new ProcessBuilder(Capability.SH.executable().toString(), "-c",
        "sleep 30 & sleep 30 & echo started; wait").start();
    sh.getInputStream().read(); // both sleeps are forked once "started" arrives
    List<ProcessHandle> children = sh.descendants().toList();
    assertEquals(2, children.size(), children.toString());
    Cleanup.killTree(sh);
    for (ProcessHandle c : children) {
      assertTrue(Signals.isGone(c.pid()), "pid " + c.pid());
    }
  }

  @Test
  void javaCommandPutsOptionsBeforeTheClassPathAndArgumentsAfterTheMainClass() {
    List<String> cmd = JavaCommand.of(SignalsTest.class).light().jvmOptions("-Dx=1").classPath("a.jar")
        .args("one", "two").build();
    assertEquals(JavaCommand.java().toString(), cmd.get(0));
    assertEquals(Path.of(System.getProperty("java.home"), "bin", "java"), Path.of(cmd.get(0)));
    int cp = cmd.indexOf("-cp");
    assertEquals(JavaCommand.LIGHT_OPTIONS, cmd.subList(1, 1 + JavaCommand.LIGHT_OPTIONS.size()));
    assertEquals("-Dx=1", cmd.get(cp - 1));
    assertEquals(List.of("-cp", "a.jar", SignalsTest.class.getName(), "one", "two"), cmd.subList(cp, cmd.size()));
  }
}
