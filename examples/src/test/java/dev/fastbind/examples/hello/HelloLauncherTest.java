package dev.fastbind.examples.hello;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's demo, run as a newcomer runs it: a launcher process that spawns a daemon process. */
class HelloLauncherTest {

  @TempDir Path runtime;

  @Test
  void demoStartsReusesQueriesAndStopsTheDaemonLeavingNothingBehind() throws Exception {
    // A generous probe budget: this checks the demo's steps, not that a cold JVM starts within the default
    // 500 ms on a loaded CI machine (Temurin 25 once needed more); the budget itself is BudgetTest's.
    Process launcher = JavaCommand.of(HelloLauncher.class).light()
        .jvmOptions("-Dhello.runtime-dir=" + runtime, "-Dhello.probe-budget-ms=10000")
        .args("demo").processBuilder().redirectErrorStream(true).start();
    try {
      assertTrue(launcher.waitFor(60, TimeUnit.SECONDS), "demo did not finish within 60 s");
      String out = new String(launcher.getInputStream().readAllBytes());
      assertEquals(0, launcher.exitValue(), out);
      List<String> lines = out.lines().filter(l -> l.matches("\\d\\. .*")).toList();
      assertEquals(8, lines.size(), out);
      assertTrue(lines.get(1).contains("spawned: ABSENT"), out);
      assertTrue(lines.get(3).contains("spawned: no"), out);
      assertTrue(lines.get(4).contains("hello, demo (request 1"), out);
      assertTrue(lines.get(5).contains("READY"), out);
      assertTrue(lines.get(6).endsWith("SHUT_DOWN"), out);
      assertTrue(lines.get(7).endsWith("ABSENT"), out);
      try (var files = Files.list(runtime)) {
        List<String> left = files.map(p -> p.getFileName().toString())
            .filter(n -> n.endsWith(".sock") || n.endsWith(".ctl") || n.endsWith(".lock")).toList();
        assertEquals(List.of(), left, "sockets or lockfile left behind");
      }
    } finally {
      Cleanup.killTree(launcher);
      dev.fastbind.broker.Broker.create().stop(HelloLauncher.definition(runtime)); // no daemon outlives the test
    }
  }

  @Test
  void noDaemonServesInsideTheLauncherWhichStillExitsAndLeavesNoDirectory() throws Exception {
    Path tmp = Files.createDirectories(runtime.resolve("tmp"));
    Process launcher = JavaCommand.of(HelloLauncher.class).light()
        .jvmOptions("-Dhello.runtime-dir=" + runtime, "-Djava.io.tmpdir=" + tmp, "-Dhello.warm-ms=0")
        .args("--no-daemon", "ask", "x").processBuilder().redirectErrorStream(true).start();
    try {
      // main returns without System.exit and without stopping the backend: its threads must not hold the JVM.
      assertTrue(launcher.waitFor(60, TimeUnit.SECONDS), "the --no-daemon launcher did not exit within 60 s");
      String out = new String(launcher.getInputStream().readAllBytes());
      assertEquals(0, launcher.exitValue(), out);
      assertTrue(out.startsWith("hello, x (request 1 served by pid " + launcher.pid() + ","), out);
      try (var files = Files.list(tmp)) {
        assertEquals(List.of(), files.map(p -> p.getFileName().toString()).toList(), "left in java.io.tmpdir");
      }
      try (var files = Files.list(runtime)) {
        assertEquals(List.of("tmp"), files.map(p -> p.getFileName().toString()).toList(), "written to the runtime dir");
      }
    } finally {
      Cleanup.killTree(launcher);
    }
  }
}
