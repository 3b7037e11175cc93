package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.RequiresCapability;
import dev.fastbind.testsupport.Signals;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Many real launcher JVMs against one service: the spawn race, Ctrl-C, and what the hot path loads. */
class LauncherProcessTest {

  @TempDir Path tmp;

  private final List<Process> launchers = new ArrayList<>();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void cleanUp() throws Exception {
    try {
      for (Process p : launchers) {
        Cleanup.killTree(p);
      }
    } finally {
      Fixtures.killMarked(dir()); // even when a launcher would not die: no daemon outlives the test
    }
  }

  private Process launcher(List<String> prefix, List<String> jvmExtra, String service, long budgetMs, long lingerMs,
      Path out) throws IOException {
    List<String> cmd = new ArrayList<>(prefix);
    cmd.addAll(JavaCommand.of(TestLauncher.class).light().jvmOptions(jvmExtra)
        .args(dir().toString(), service, Long.toString(budgetMs), Long.toString(lingerMs), Fixtures.marker(dir()))
        .build());
    Process p = new ProcessBuilder(cmd)
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
        .redirectErrorStream(true)
        .redirectOutput(out.toFile())
        .start();
    launchers.add(p);
    return p;
  }

  private static String finish(Process p, Path out) throws Exception {
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      fail("launcher did not finish: " + Files.readString(out));
    }
    return Files.readString(out, StandardCharsets.UTF_8);
  }

  private static long pidOf(String output) {
    for (String line : output.split("\n")) {
      if (line.startsWith("PID ")) {
        return Long.parseLong(line.split(" ")[1]);
      }
    }
    fail("no PID line in launcher output:\n" + output);
    return -1;
  }

  @Test
  void sixteenLaunchersAtOnceSpawnExactlyOneDaemon() throws Exception {
    race(List.of());
  }

  @Test
  void sixteenLaunchersAtOnceWithTheHandoffBindOnceAndSpawnExactlyOneDaemon() throws Exception {
    race(List.of("-Dfastbind.test.handoff=true"));
  }

  private void race(List<String> jvmExtra) throws Exception {
    int n = 16;
    Files.createDirectories(dir());
    Files.setPosixFilePermissions(dir(), java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
    List<Process> ps = new ArrayList<>();
    List<Path> outs = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Path out = tmp.resolve("launcher-" + i + ".out");
      outs.add(out);
      ps.add(launcher(List.of(), jvmExtra, "race", 20_000, 0, out));
    }
    Set<Long> pids = new HashSet<>();
    int spawned = 0;
    for (int i = 0; i < n; i++) {
      String output = finish(ps.get(i), outs.get(i));
      assertEquals(0, ps.get(i).exitValue(), output);
      pids.add(pidOf(output));
      if (output.contains(" ABSENT")) {
        spawned++;
      }
    }
    assertEquals(1, pids.size(), "every launcher got the same daemon: " + pids);
    assertEquals(1, spawned, "exactly one launcher spawned");
    long daemons = Fixtures.marked(dir()).stream()
        .filter(h -> h.info().arguments().map(a -> List.of(a).contains(TestDaemon.class.getName())).orElse(false))
        .count();
    assertEquals(1, daemons, "exactly one daemon process in the process table");
  }

  @Test
  void aStoppedLauncherHoldingTheSpawnLockMakesOthersGiveUpNamingItThenReleasesTheLockByDying() throws Exception {
    Path out = tmp.resolve("holder.out");
    // The holder spawns a daemon that never binds and waits up to 30 s for it, holding the spawn lock.
    Process holder = launcher(List.of(), List.of("-Dfastbind.test.mode=hang"), "held", 30_000, 0, out);
    Await.until(Duration.ofSeconds(30), () -> Fixtures.marked(dir()).stream()
        .anyMatch(h -> h.info().arguments().map(a -> List.of(a).contains("hang")).orElse(false)),
        () -> "the holder never spawned its daemon: " + read(out));
    Signals.stop(holder.pid()); // Ctrl-Z on a launcher halfway through a spawn

    ServiceDefinition def = Fixtures.daemon(dir(), "held", "good").spawnLockPatience(Duration.ofSeconds(1)).build();
    Broker broker = Broker.create();
    long start = System.nanoTime();
    SpawnLockTimeoutException e = assertThrows(SpawnLockTimeoutException.class, () -> broker.ensureRunning(def));
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertTrue(took.compareTo(Duration.ofMillis(900)) >= 0 && took.compareTo(Duration.ofSeconds(10)) < 0,
        "gave up after " + took + ", patience 1 s");
    assertEquals(holder.pid(), e.holderPid().orElse(-1), e.getMessage());
    assertTrue(e.getMessage().contains("stopped") && e.getMessage().contains("kill -CONT " + holder.pid()),
        e.getMessage());
    assertThrows(SpawnLockTimeoutException.class, () -> broker.stop(def, Duration.ofSeconds(1)));
    assertFalse(Files.exists(dir().resolve("held.lock")), "a launcher that gave up changed nothing");

    Signals.send("KILL", holder.pid());
    assertTrue(holder.waitFor(10, TimeUnit.SECONDS), "the stopped holder did not die on SIGKILL");
    DaemonInfo info = broker.ensureRunning(def); // the kernel released the dead holder's lock
    assertTrue(info.spawned(), "the next launcher spawns once the holder is gone");
  }

  private static String read(Path out) {
    try {
      return Files.readString(out);
    } catch (IOException e) {
      return "(no output: " + e + ")";
    }
  }

  @Test
  @RequiresCapability(Capability.SETSID)
  void ctrlCOnTheLaunchersProcessGroupLeavesTheDaemonRunning() throws Exception {
    Path out = tmp.resolve("launcher.out");
    // setsid: the launcher leads its own group, like a shell job; env: SIGINT back to its default
    // action, since a background job's ignored SIGINT would otherwise be inherited.
    Process p = launcher(List.of(Capability.SETSID.executable().toString(), "/usr/bin/env", "--default-signal=INT"), List.of(),
        "survivor", 20_000, 30_000, out);
    Await.until(Duration.ofSeconds(30), () -> readQuietly(out).contains("PID "),
        () -> "launcher never reported a pid: " + readQuietly(out));
    long daemonPid = pidOf(readQuietly(out));
    Signals.sendToGroup("INT", p.pid());
    assertTrue(p.waitFor(10, TimeUnit.SECONDS), "the launcher ended on SIGINT");
    assertEquals(130, p.exitValue(), "the launcher died of SIGINT: " + readQuietly(out));
    assertTrue(ProcessHandle.of(daemonPid).map(ProcessHandle::isAlive).orElse(false), "the daemon survived");
    DaemonInfo again = Broker.create().ensureRunning(Fixtures.daemon(dir(), "survivor", "good").build());
    assertFalse(again.spawned());
    assertEquals(daemonPid, again.pid());
    assertEquals(daemonPid, EnsureRunningTest.askPid(again));
  }

  @Test
  void hotPathLoadsNoMicrometerNettyOrJunixsocket() throws Exception {
    Broker.create().ensureRunning(Fixtures.daemon(dir(), "hot", "good").build());
    Path classes = tmp.resolve("classes.log");
    Path out = tmp.resolve("launcher.out");
    Process p = launcher(List.of(), List.of("-Xlog:class+load=info:file=" + classes), "hot", 5_000, 0, out);
    String output = finish(p, out);
    assertTrue(output.contains("REUSED"), output);
    String loaded = Files.readString(classes);
    assertTrue(loaded.contains("dev.fastbind.broker.Broker"), "the log lists loaded classes");
    for (String forbidden : List.of("io.micrometer.", "io.netty.", "org.newsclub.")) {
      assertFalse(loaded.contains(forbidden), "hot path loaded " + forbidden + " classes");
    }
  }

  private static String readQuietly(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      return "";
    }
  }
}
