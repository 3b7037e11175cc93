package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Signals;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The life of one real daemon: spawn, reuse, crash, stop, stop again. */
class EnsureRunningTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    Fixtures.killMarked(dir());
  }

  /** Connects to the daemon's main endpoint and reads the pid it answers with. */
  static long askPid(DaemonInfo info) throws IOException {
    try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      c.connect(UnixDomainSocketAddress.of(info.endpoint().path().orElseThrow()));
      ByteBuffer b = ByteBuffer.allocate(64);
      while (c.read(b) >= 0 && b.position() < 64) {
        if (b.position() > 0 && b.get(b.position() - 1) == '\n') {
          break;
        }
      }
      return Long.parseLong(new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim());
    }
  }

  @Test
  void theDaemonStartsInTheRuntimeDirectoryOrTheOneTheDefinitionNames() throws Exception {
    DaemonInfo inRuntime = broker.ensureRunning(Fixtures.daemon(dir(), "svc", "good").build());
    assertEquals(dir().toRealPath(), Files.readSymbolicLink(Path.of("/proc", Long.toString(inRuntime.pid()), "cwd")));

    Path work = Files.createDirectories(tmp.resolve("work"));
    DaemonInfo elsewhere = broker.ensureRunning(Fixtures.daemon(dir(), "other", "good").workingDirectory(work).build());
    assertEquals(work.toRealPath(), Files.readSymbolicLink(Path.of("/proc", Long.toString(elsewhere.pid()), "cwd")));

    Path missing = tmp.resolve("no-such-dir");
    IOException e = assertThrows(IOException.class,
        () -> broker.ensureRunning(Fixtures.daemon(dir(), "third", "good").workingDirectory(missing).build()));
    assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("working directory"),
        e.getMessage());
  }

  @Test
  void coldStartSpawnsAndTheNextCallReusesTheSameDaemon() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "svc", "good", "2.0").build();
    DaemonInfo first = broker.ensureRunning(def);
    assertEquals(Optional.of(SpawnReason.ABSENT), first.spawnReason());
    assertEquals(first.pid(), askPid(first), "the endpoint is served by the recorded pid");
    assertEquals(Optional.of("2.0"), first.version());
    assertEquals(first.endpoint().path().orElseThrow(), dir().resolve("svc.sock"));

    DaemonInfo second = broker.ensureRunning(def);
    assertFalse(second.spawned());
    assertEquals(first.pid(), second.pid());
    assertEquals(first.instanceId(), second.instanceId());
    assertEquals(1, Fixtures.marked(dir()).size(), "exactly one daemon runs");
  }

  @Test
  void daemonIsDetachedWithLogAndNoPipes() throws Exception {
    DaemonInfo info = broker.ensureRunning(Fixtures.daemon(dir(), "svc", "good").build());
    String stat = Files.readString(Path.of("/proc", Long.toString(info.pid()), "stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    assertEquals(Long.toString(info.pid()), f[2], "the daemon leads its own process group");
    assertEquals(Long.toString(info.pid()), f[3], "the daemon leads its own session");
    assertEquals("0", f[4], "the daemon has no controlling terminal");
    assertEquals("/dev/null", Files.readSymbolicLink(Path.of("/proc", Long.toString(info.pid()), "fd", "0")).toString());
    Path out = Files.readSymbolicLink(Path.of("/proc", Long.toString(info.pid()), "fd", "1"));
    assertEquals(dir().resolve("svc.log"), out);
    assertEquals(dir().resolve("svc.log"), Files.readSymbolicLink(Path.of("/proc", Long.toString(info.pid()), "fd", "2")),
        "the daemon's stderr goes to its log too");
  }

  @Test
  void killNineIsRespawnedWithReasonDeadPid() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "svc", "good").build();
    DaemonInfo first = broker.ensureRunning(def);
    Signals.kill(first.pid());

    ServiceStatus status = broker.status(def);
    assertInstanceOf(ServiceStatus.Stale.class, status);
    assertEquals(SpawnReason.DEAD_PID, ((ServiceStatus.Stale) status).reason());

    DaemonInfo second = broker.ensureRunning(def);
    assertEquals(Optional.of(SpawnReason.DEAD_PID), second.spawnReason());
    assertTrue(second.spawnDetail().contains(Long.toString(first.pid())), second.spawnDetail());
    assertNotEquals(first.pid(), second.pid());
    assertEquals(second.pid(), askPid(second));
  }

  @Test
  void statusReportsAbsentThenRunningWithHello() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "svc", "good", "3.1").build();
    assertEquals(new ServiceStatus.Absent("svc"), broker.status(def));
    DaemonInfo info = broker.ensureRunning(def);
    ServiceStatus.Running running = assertInstanceOf(ServiceStatus.Running.class, broker.status(def));
    assertTrue(running.ready());
    assertEquals(100, running.progressPercent());
    assertEquals(info.pid(), running.daemon().pid());
    assertEquals(Optional.of("3.1"), running.daemon().version());
  }

  @Test
  void stopShutsDownGracefullyRemovesFilesAndIsIdempotent() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "svc", "good").build();
    DaemonInfo info = broker.ensureRunning(def);
    ProcessHandle h = ProcessHandle.of(info.pid()).orElseThrow();
    assertEquals(StopResult.SHUT_DOWN, broker.stop(def));
    assertFalse(h.isAlive());
    assertFalse(Files.exists(dir().resolve("svc.lock")));
    assertFalse(Files.exists(dir().resolve("svc.sock")));
    assertEquals(StopResult.NOT_RUNNING, broker.stop(def));
    ServiceStatus.Absent absent = assertInstanceOf(ServiceStatus.Absent.class, broker.status(def));
    assertEquals(Optional.of(DeathRecord.Cause.SHUTDOWN_REQUEST), absent.lastDeath().map(DeathRecord::cause),
        "the status names how the stopped daemon ended");
  }

  @Test
  void stoppedDaemonIsReportedUnresponsiveWithinTheBudgetAndLeftAlone() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "svc", "good").build();
    DaemonInfo info = broker.ensureRunning(def);
    ServiceDefinition impatient = Fixtures.daemon(dir(), "svc", "good").probeBudget(Duration.ofMillis(300)).build();
    Signals.stop(info.pid());
    try {
      long start = System.nanoTime();
      DaemonUnresponsiveException e = assertThrows(DaemonUnresponsiveException.class,
          () -> broker.ensureRunning(impatient));
      assertTrue(Duration.ofNanos(System.nanoTime() - start).toMillis() < 300 + 1500);
      assertEquals(info.pid(), e.pid());
      assertTrue(e.getMessage().contains("kill -CONT " + info.pid()), e.getMessage());
      assertInstanceOf(ServiceStatus.Unresponsive.class, broker.status(impatient));
      assertTrue(ProcessHandle.of(info.pid()).orElseThrow().isAlive(), "left alone");
      assertEquals(1, Fixtures.marked(dir()).size());
    } finally {
      Signals.send("CONT", info.pid());
    }
    assertEquals(info.pid(), broker.ensureRunning(def).pid(), "resumed daemon is reused");
  }

  @Test
  void stoppedDaemonIsReplacedWhenTheDefinitionAsks() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "svc", "good").build();
    DaemonInfo info = broker.ensureRunning(def);
    ProcessHandle old = ProcessHandle.of(info.pid()).orElseThrow();
    Signals.stop(info.pid());
    ServiceDefinition replacing = Fixtures.daemon(dir(), "svc", "good").probeBudget(Duration.ofSeconds(2))
        .unresponsivePolicy(UnresponsivePolicy.REPLACE).build();
    long start = System.nanoTime();
    DaemonInfo fresh = broker.ensureRunning(replacing);
    assertEquals(Optional.of(SpawnReason.UNRESPONSIVE), fresh.spawnReason());
    assertNotEquals(info.pid(), fresh.pid());
    assertTrue(Duration.ofNanos(System.nanoTime() - start).toMillis() < 2000 + 2000 + 2000,
        "one HELLO timeout, one stop, one spawn");
    old.onExit().get(10, TimeUnit.SECONDS);
    assertEquals(fresh.pid(), askPid(fresh));
  }

  @Test
  void versionMismatchFollowsThePolicy() throws Exception {
    DaemonInfo v1 = broker.ensureRunning(Fixtures.daemon(dir(), "svc", "good", "1.0").version("1.0").build());

    ServiceDefinition.Builder v2 = Fixtures.daemon(dir(), "svc", "good", "2.0").version("2.0");
    VersionMismatchException e = assertThrows(VersionMismatchException.class,
        () -> broker.ensureRunning(v2.versionPolicy(VersionPolicy.FAIL).build()));
    assertEquals("1.0", e.running());
    assertEquals("2.0", e.expected());

    assertEquals(v1.pid(), broker.ensureRunning(v2.versionPolicy(VersionPolicy.ACCEPT).build()).pid());

    ProcessHandle old = ProcessHandle.of(v1.pid()).orElseThrow();
    DaemonInfo restarted = broker.ensureRunning(v2.versionPolicy(VersionPolicy.RESTART).build());
    assertEquals(Optional.of(SpawnReason.VERSION_MISMATCH), restarted.spawnReason());
    assertEquals(Optional.of("2.0"), restarted.version());
    assertFalse(old.isAlive(), "the old version was stopped before the new one started");
  }

  @Test
  void twoServicesInOneDirectoryDoNotTouchEachOther() throws Exception {
    DaemonInfo a = broker.ensureRunning(Fixtures.daemon(dir(), "alpha", "good").build());
    DaemonInfo b = broker.ensureRunning(Fixtures.daemon(dir(), "beta", "good").build());
    assertNotEquals(a.pid(), b.pid());
    assertEquals(StopResult.SHUT_DOWN, broker.stop(Fixtures.daemon(dir(), "alpha", "good").build()));
    assertEquals(b.pid(), askPid(b));
    assertFalse(broker.ensureRunning(Fixtures.daemon(dir(), "beta", "good").build()).spawned());
  }

  @Test
  @dev.fastbind.testsupport.RequiresCapability(dev.fastbind.testsupport.Capability.PYTHON3)
  void aStopReturnsOnceTheDaemonHasExitedThoughNothingReapsIt() throws Exception {
    // The daemon's launcher exits and the daemon is re-parented to a subreaper that never reaps it
    // (as a container's init that reaps late): once it exits it is a zombie holding nothing, and the
    // stop must say so at once, neither wait out its grace nor signal a zombie.
    Path script = tmp.resolve("no_reaper.py");
    try (java.io.InputStream in = EnsureRunningTest.class.getResourceAsStream("/no_reaper.py")) {
      Files.write(script, in.readAllBytes());
    }
    java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of("/usr/bin/python3", script.toString()));
    command.addAll(dev.fastbind.testsupport.JavaCommand.of(TestLauncher.class).light()
        .args(dir().toString(), "svc", "10000").build());
    Process reaper = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    long pid = -1;
    try {
      java.io.BufferedReader out = new java.io.BufferedReader(
          new java.io.InputStreamReader(reaper.getInputStream(), StandardCharsets.UTF_8));
      for (String line; (line = out.readLine()) != null && !line.startsWith("launcher-exited"); ) {
        if (line.startsWith("PID ")) {
          pid = Long.parseLong(line.split(" ")[1]);
        }
      }
      long daemon = pid;
      assertTrue(daemon > 0, "the launcher named its daemon");
      Await.until(Duration.ofSeconds(10), () -> ProcessHandle.of(daemon).flatMap(ProcessHandle::parent)
          .map(p -> p.pid() == reaper.pid()).orElse(false), () -> "the daemon was not re-parented to the subreaper");

      long start = System.nanoTime();
      assertEquals(StopResult.SHUT_DOWN, broker.stop(Fixtures.daemon(dir(), "svc", "good").build(), Duration.ofSeconds(10)));
      long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertTrue(tookMillis < 5000, "stopped in " + tookMillis + " ms, not after its 10 s grace");
      assertTrue(dev.fastbind.testsupport.ProcState.read(daemon).map(dev.fastbind.testsupport.ProcState::ended)
          .orElse(false), "the daemon is still unreaped (a zombie): the stop did not wait for the reap");
    } finally {
      reaper.getOutputStream().close(); // the subreaper exits; init reaps what it held
      assertTrue(reaper.waitFor(20, TimeUnit.SECONDS));
      if (pid > 0) {
        Signals.awaitGone(pid, Duration.ofSeconds(20));
      }
    }
  }
}
