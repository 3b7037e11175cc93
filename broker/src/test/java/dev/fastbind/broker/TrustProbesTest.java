package dev.fastbind.broker;

import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.RequiresCapability;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.broker.internal.Probe;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Cleanup;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Black-box probes of issue 9 ("verify with the kernel before signalling, connecting, trusting or
 * deleting"), written as an outside tester would: non-daemon listeners on the service's paths,
 * links to another directory's sockets, a replaced spawn-lock file, escaped grandchildren. Each
 * test states the behaviour the issue requires. Every forged record names only processes this test
 * started (python3 listeners, sleep bystanders, shell trees), each with a bounded lifetime and
 * killed in {@link #noProcessLeft}.
 */
@RequiresCapability({Capability.PYTHON3, Capability.SETSID})
class TrustProbesTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();
  private final List<Process> started = new ArrayList<>();
  private final List<Long> extraPids = new ArrayList<>();
  private ServiceDefinition def;

  private Path dir() {
    return tmp.resolve("rt");
  }

  private Path lockfile() {
    return dir().resolve("svc.lock");
  }

  private Path sock() {
    return dir().resolve("svc.sock");
  }

  private Path ctl() {
    return dir().resolve("svc.ctl");
  }

  @BeforeEach
  void directory() throws Exception {
    RuntimeDirectory.ensureOwnerOnly(dir());
    def = Fixtures.daemon(dir(), "svc", "good").version("1.0").build();
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    for (Process p : started) {
      Cleanup.killTree(p);
    }
    for (long pid : extraPids) {
      if (pid > 1 && pid != ProcessHandle.current().pid()) {
        Cleanup.killTree(pid);
      }
    }
    Fixtures.killMarked(dir());
  }

  private Process start(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    started.add(p);
    return p;
  }

  /**
   * A python3 process in a session of its own (so it leads its group) that is NOT a fastbind daemon:
   * it binds and listens on {@code socketPath} with a plain socket, records every SIGTERM in
   * {@code signals} and ignores it, and has a forked child. Everything ends by itself within 60 s.
   */
  private static final String LISTENER = String.join("\n",
      "import socket, os, signal, sys, time",
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
      "s.bind(sys.argv[1]); s.listen(16)",
      "def term(*a):",
      "    with open(sys.argv[2], 'a') as f: f.write('TERM %d\\n' % os.getpid())",
      "signal.signal(signal.SIGTERM, term)",
      "if os.fork() == 0:",
      "    s.close(); time.sleep(60); os._exit(0)",
      "end = time.time() + 60",
      "while time.time() < end:",
      "    try:",
      "        time.sleep(0.2)",
      "    except Exception:",
      "        pass",
      "");

  private Process foreignListener(Path socketPath, Path signals) throws Exception {
    Process p = start("setsid", "python3", "-c", LISTENER, socketPath.toString(), signals.toString());
    Await.until(Duration.ofSeconds(10), () -> Probe.connects(socketPath) && p.descendants().findAny().isPresent(),
        () -> "the python listener did not listen at " + socketPath);
    return p;
  }

  private LockfileRecord forged(long pid, String version) throws Exception {
    return new LockfileRecord("svc", pid, ProcessIdentity.startTime(pid).orElseThrow(), ProcessIdentity.bootId(),
        Endpoint.unixPath(sock()), Endpoint.unixPath(ctl()), version, LockfileRecord.newInstanceId());
  }

  private static void assertUntouched(Process p, Path signals) throws Exception {
    assertTrue(p.isAlive(), "the non-daemon process named in the forged record was killed");
    assertTrue(p.descendants().findAny().isPresent() && p.descendants().allMatch(ProcessHandle::isAlive),
        "its child was killed");
    assertFalse(Files.exists(signals), () -> "it was signalled: " + read(signals));
  }

  /** What a call did, for the report: its result or its exception. */
  private static String outcome(java.util.concurrent.Callable<?> call) {
    try {
      return "returned " + call.call();
    } catch (Exception e) {
      return "threw " + e;
    }
  }

  private static String fate(Process p, Path signals) {
    return "process alive=" + p.isAlive() + ", children alive="
        + p.descendants().filter(ProcessHandle::isAlive).count() + ", signals file="
        + (Files.exists(signals) ? read(signals).trim() : "(none)");
  }

  /** Re-encodes {@code text} (a lockfile with its crc32 line dropped) with a correct checksum. */
  private static byte[] withCrc(String body) {
    byte[] b = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    crc.update(b);
    String tail = String.format("crc32=%08x%n", crc.getValue());
    return (body + tail).getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** {@code r} encoded, then {@code from} replaced by {@code to} in its text, checksum recomputed. */
  private static byte[] forgedText(LockfileRecord r, String from, String to) {
    String text = new String(dev.fastbind.backend.internal.wire.LockfileCodec.encode(r),
        java.nio.charset.StandardCharsets.UTF_8);
    String body = text.substring(0, text.lastIndexOf("crc32="));
    assertTrue(body.contains(from), body);
    return withCrc(body.replace(from, to));
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (Exception e) {
      return "?";
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 1. The "SDK-only marker": holding a listener at the service's endpoint path is not SDK-only.
  // ---------------------------------------------------------------------------------------------

  /**
   * Expected (issue 9, point 1): a process that merely listens on SERVICE.ctl with a plain socket is
   * not "this service's daemon instance" (no SDK marker, HELLO would fail) and must never be
   * signalled; ensureRunning must report it (ENDPOINT_HELD / UNVERIFIED_PROCESS), not kill it.
   */
  @Test
  void ensureRunningNeverKillsANonDaemonThatOnlyListensOnTheControlPath() throws Exception {
    Path signals = tmp.resolve("signals");
    Process impostor = foreignListener(ctl(), signals);
    Lockfiles.write(lockfile(), forged(impostor.pid(), "1.0"));
    String did = outcome(() -> broker.ensureRunning(def));
    System.out.println("PROBE ctl-only/ensureRunning: " + did + "; " + fate(impostor, signals));
    assertUntouched(impostor, signals);
  }

  /** Expected: as above, for stop: UntrustedStateException, nothing signalled, lockfile kept. */
  @Test
  void stopNeverKillsANonDaemonThatOnlyListensOnTheControlPath() throws Exception {
    Path signals = tmp.resolve("signals");
    Process impostor = foreignListener(ctl(), signals);
    Lockfiles.write(lockfile(), forged(impostor.pid(), "1.0"));
    String did = outcome(() -> broker.stop(def, Duration.ofSeconds(1)));
    System.out.println("PROBE ctl-only/stop: " + did + "; " + fate(impostor, signals));
    assertUntouched(impostor, signals);
    assertTrue(did.contains("UntrustedStateException"), "stop " + did + " for a process that is not the daemon");
  }

  /**
   * Expected: a process that listens on SERVICE.sock with a plain socket (no control endpoint, no
   * HELLO) is not the daemon. stop must refuse (UntrustedStateException) and signal nothing. The
   * implementation's fallback "HELLO failed with an I/O error, so the verified process gets signals"
   * must not apply to a process whose only credential is a socket at the path.
   */
  @Test
  void stopNeverSignalsANonDaemonThatListensOnTheMainPath() throws Exception {
    Path signals = tmp.resolve("signals");
    Process impostor = foreignListener(sock(), signals);
    Lockfiles.write(lockfile(), forged(impostor.pid(), "1.0"));
    String did = outcome(() -> broker.stop(def, Duration.ofSeconds(1)));
    System.out.println("PROBE sock-only/stop: " + did + "; " + fate(impostor, signals));
    assertUntouched(impostor, signals);
    assertTrue(did.contains("UntrustedStateException"), "stop " + did + " for a process that is not the daemon");
  }

  /**
   * Expected: with VersionPolicy.RESTART (the default), a record naming a plain listener at
   * SERVICE.sock with another version must not make ensureRunning terminate that process.
   */
  @Test
  void restartOnVersionMismatchNeverTerminatesANonDaemonListener() throws Exception {
    Path signals = tmp.resolve("signals");
    Process impostor = foreignListener(sock(), signals);
    Lockfiles.write(lockfile(), forged(impostor.pid(), "0.9"));
    ServiceDefinition quick = Fixtures.daemon(dir(), "svc", "good").version("1.0").build();
    String did = outcome(() -> broker.ensureRunning(quick));
    System.out.println("PROBE sock-only/RESTART: " + did + "; " + fate(impostor, signals));
    assertUntouched(impostor, signals);
  }

  /**
   * Expected: status on the same forged record is Untrusted (its HELLO cannot be verified), never
   * Running, and changes nothing.
   */
  @Test
  void statusOfANonDaemonListenerOnTheMainPathIsUntrusted() throws Exception {
    Path signals = tmp.resolve("signals");
    Process impostor = foreignListener(sock(), signals);
    Lockfiles.write(lockfile(), forged(impostor.pid(), "1.0"));
    long t0 = System.nanoTime();
    ServiceStatus s = broker.status(def);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    System.out.println("PROBE sock-only/status (" + ms + " ms): " + s);
    assertInstanceOf(ServiceStatus.Untrusted.class, s, "status: " + s);
    assertUntouched(impostor, signals);
  }

  // ---------------------------------------------------------------------------------------------
  // 2. A live daemon whose control endpoint is answered by another process.
  // ---------------------------------------------------------------------------------------------

  /** Expected: status Untrusted/IMPOSTOR; stop refuses, shuts nothing down, signals neither. */
  @Test
  void aLiveDaemonWhoseControlPathIsReboundByAnotherProcessIsAnImpostorAndNothingIsStopped() throws Exception {
    DaemonInfo real = broker.ensureRunning(def);
    Files.delete(ctl());
    Path signals = tmp.resolve("signals");
    Process impostor = foreignListener(ctl(), signals);

    ServiceStatus s = broker.status(def);
    ServiceStatus.Untrusted u = assertInstanceOf(ServiceStatus.Untrusted.class, s, "status: " + s);
    assertEquals(UntrustedStateException.Kind.IMPOSTOR, u.kind(), u.detail());
    UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.stop(def, Duration.ofSeconds(1)));
    assertTrue(e.getMessage().contains(ctl().toString()), e.getMessage());
    assertUntouched(impostor, signals);
    assertEquals(real.pid(), EnsureRunningTest.askPid(real), "the real daemon was stopped");
  }

  // ---------------------------------------------------------------------------------------------
  // 3. Odd pids.
  // ---------------------------------------------------------------------------------------------

  /** Expected: a zombie is dead; nothing is signalled (its parent included), the claim is cleared. */
  @Test
  void aRecordNamingAZombieIsClearedAndItsParentIsLeftAlone() throws Exception {
    // sh forks "sleep 0", then execs sleep 60, which never reaps it: a zombie child of ours.
    Process parent = start("sh", "-c", "sleep 0 & exec sleep 60");
    long zombie = Await.value(Duration.ofSeconds(10), () -> parent.children()
        .filter(c -> ProcessIdentity.stat(c.pid()) != null && ProcessIdentity.stat(c.pid()).exited()).findAny()
        .map(ProcessHandle::pid), () -> "no zombie");
    String startTime = ProcessIdentity.stat(zombie).startTime();
    Lockfiles.write(lockfile(), new LockfileRecord("svc", zombie, startTime, ProcessIdentity.bootId(),
        Endpoint.unixPath(sock()), Endpoint.unixPath(ctl()), "1.0", LockfileRecord.newInstanceId()));
    assertInstanceOf(ServiceStatus.Stale.class, broker.status(def));
    assertEquals(StopResult.CLEANED_STALE, broker.stop(def, Duration.ZERO));
    assertTrue(parent.isAlive(), "the zombie's parent was killed");
  }

  /** Expected: negative, zero and huge pids are stale records, never signalled, no exception other than typed ones. */
  @Test
  void negativeZeroAndHugePidsAreStale() throws Exception {
    for (long pid : new long[] {-1, 0, 4_194_304L + 17, Long.MAX_VALUE}) {
      byte[] forged;
      try {
        forged = dev.fastbind.backend.internal.wire.LockfileCodec.encode(new LockfileRecord("svc", pid, "12345",
            ProcessIdentity.bootId(), Endpoint.unixPath(sock()), Endpoint.unixPath(ctl()), "1.0",
            LockfileRecord.newInstanceId()));
      } catch (RuntimeException rejectedByTheCodec) {
        continue;
      }
      Files.write(lockfile(), forged);
      ServiceStatus s = broker.status(def);
      assertInstanceOf(ServiceStatus.Stale.class, s, "pid " + pid + ": " + s);
      assertEquals(StopResult.CLEANED_STALE, broker.stop(def, Duration.ZERO), "pid " + pid);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 4. status creates and changes nothing, in every state.
  // ---------------------------------------------------------------------------------------------

  private Map<String, String> snapshot() throws Exception {
    Map<String, String> m = new TreeMap<>();
    try (Stream<Path> all = Files.walk(tmp)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (p.getFileName().toString().equals("svc.log")) {
          continue; // the test daemon itself logs accepted probe connections
        }
        m.put(tmp.relativize(p).toString(), a.size() + "/" + a.lastModifiedTime() + "/" + a.fileKey());
      }
    }
    return m;
  }

  private void assertStatusChangesNothing(String state) throws Exception {
    Map<String, String> before = snapshot();
    broker.status(def);
    broker.status(def);
    assertEquals(before, snapshot(), "status changed the runtime directory in state: " + state);
  }

  /** Expected: every state, status leaves the directory listing, sizes and mtimes as they were. */
  @Test
  void statusChangesNothingInAnyState() throws Exception {
    assertStatusChangesNothing("empty directory");
    Files.write(lockfile(), new byte[] {'g', 'a', 'r', 'b'});
    assertStatusChangesNothing("garbage lockfile");
    Files.delete(lockfile());
    DaemonInfo real = broker.ensureRunning(def);
    assertStatusChangesNothing("live daemon");
    Cleanup.killTree(real.pid());
    Signals_awaitGone(real.pid());
    assertStatusChangesNothing("daemon killed with SIGKILL, its files left");
    Files.writeString(dir().resolve(".svc.lock.999999999.tmp"), "stale temp");
    assertStatusChangesNothing("a stale lockfile temp file");
  }

  private static void Signals_awaitGone(long pid) {
    dev.fastbind.testsupport.Signals.awaitGone(pid);
  }

  // ---------------------------------------------------------------------------------------------
  // 5. Hostile files.
  // ---------------------------------------------------------------------------------------------

  private static void mkfifo(Path p) throws Exception {
    Process m = new ProcessBuilder("mkfifo", p.toString()).start();
    assertEquals(0, m.waitFor());
  }

  /** Expected: a directory at SERVICE.ctl is reported naming the path and the fix, never removed, nothing spawned. */
  @Test
  void aDirectoryAtTheControlPathIsReportedNamedAndKept() throws Exception {
    Files.createDirectory(ctl());
    Files.writeString(ctl().resolve("inside"), "x");
    Exception e = assertTimeoutPreemptively(Duration.ofSeconds(30),
        () -> assertThrows(Exception.class, () -> broker.ensureRunning(def)));
    assertTrue(e.getMessage().contains(ctl().toString()) && e.getMessage().contains("remove"), e.toString());
    assertTrue(Files.isDirectory(ctl(), LinkOption.NOFOLLOW_LINKS));
    assertTrue(Fixtures.marked(dir()).isEmpty(), "a daemon was spawned: " + Fixtures.marked(dir()));
  }

  /** Expected: a FIFO at SERVICE.log.1 with a log due for rotation: one clear error, no hang, FIFO kept. */
  @Test
  void aFifoAtTheRotatedLogIsReportedNamedAndKept() throws Exception {
    Path log = dir().resolve("svc.log");
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "rw")) {
      f.setLength(4L << 20);
    }
    Path old = dir().resolve("svc.log.1");
    mkfifo(old);
    Exception e = assertTimeoutPreemptively(Duration.ofSeconds(30),
        () -> assertThrows(Exception.class, () -> broker.ensureRunning(def)));
    assertTrue(e.getMessage().contains(old.toString()) && e.getMessage().contains("remove"), e.toString());
    assertTrue(Files.exists(old, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(old, LinkOption.NOFOLLOW_LINKS));
    assertTrue(Fixtures.marked(dir()).isEmpty(), "a daemon was spawned: " + Fixtures.marked(dir()));
  }

  /** Expected: a FIFO at the spawns temp file: one clear error naming it, or it is ignored; never a hang. */
  @Test
  void aFifoAtTheSpawnsTempFileNeverHangs() throws Exception {
    Path t = dir().resolve("svc.spawns.tmp");
    mkfifo(t);
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      try {
        broker.ensureRunning(def);
      } catch (Exception e) {
        assertTrue(e.getMessage().contains(t.toString()) && e.getMessage().contains("remove"), e.toString());
      }
    });
    assertTrue(Files.exists(t, LinkOption.NOFOLLOW_LINKS), "the FIFO was deleted");
  }

  /** Expected: a 1 GiB sparse lockfile is read capped: status/ensureRunning return promptly, no OOM. */
  @Test
  void aHugeSparseLockfileIsReadCapped() throws Exception {
    try (RandomAccessFile f = new RandomAccessFile(lockfile().toFile(), "rw")) {
      f.setLength(1L << 30);
    }
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      ServiceStatus s = broker.status(def);
      assertInstanceOf(ServiceStatus.Stale.class, s, "status " + s);
      broker.ensureRunning(def);
    });
  }

  /** Expected: an endpoint spelled through ".." or a trailing "/." is foreign, never trusted or returned. */
  @Test
  void endpointsSpelledDifferentlyAreForeign() throws Exception {
    Process bystander = start("sleep", "60");
    LockfileRecord r = forged(bystander.pid(), "1.0");
    String own = "unix:" + sock();
    for (String spelled : new String[] {"unix:" + dir() + "/../rt/svc.sock", "unix:" + dir() + "/./svc.sock",
        "unix:" + dir() + "//svc.sock", own + "/", own + " ", "@svc.sock", "unix:" + sock().toString().substring(1)}) {
      Files.write(lockfile(), forgedText(r, own + "\n", spelled + "\n"));
      String st = outcome(() -> broker.status(def));
      System.out.println("PROBE endpoint spelled '" + spelled + "': status " + st);
      assertTrue(st.contains("Stale"), spelled + ": " + st);
      assertTrue(bystander.isAlive());
    }
    DaemonInfo info = broker.ensureRunning(def);
    assertTrue(info.spawned());
    assertEquals(Endpoint.unixPath(sock()), info.endpoint());
    assertTrue(bystander.isAlive());
  }

  // ---------------------------------------------------------------------------------------------
  // 6. Budget and leftovers.
  // ---------------------------------------------------------------------------------------------

  /**
   * A non-Java daemon that binds SERVICE.sock with a plain socket, never says READY, and leaves a
   * double-forked grandchild in a session of its own that keeps the listener (its pid goes to argv[1]).
   */
  private static final String BIND_NO_READY = String.join("\n",
      "import socket, os, sys, time",
      "d = os.environ['FASTBIND_RUNTIME_DIR']; n = os.environ['FASTBIND_SERVICE']",
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
      "s.bind(os.path.join(d, n + '.sock')); s.listen(16)",
      "if os.fork() == 0:",
      "    os.setsid()",
      "    if os.fork() == 0:",
      "        open(sys.argv[1], 'w').write(str(os.getpid()))",
      "        time.sleep(30); os._exit(0)",
      "    os._exit(0)",
      "time.sleep(30)",
      "");

  /**
   * Expected (issue 9 point 8 and the brief): ensureRunning returns within the probe budget +
   * SPAWN_KILL_MARGIN + slack, and nothing of the failed spawn is left running, including a
   * grandchild that escaped the daemon's group and holds the listener. If something is left, the next
   * call must name it (ENDPOINT_HELD with its pid).
   */
  @Test
  void aDaemonThatBindsNeverSaysReadyAndLeavesAnEscapedGrandchildIsBoundedAndCleanedUp() throws Exception {
    Path pidFile = tmp.resolve("grandchild.pid");
    ServiceDefinition bad = ServiceDefinition.builder("svc")
        .command("python3", "-c", BIND_NO_READY, pidFile.toString())
        .runtimeDirectory(dir()).probeBudget(Duration.ofMillis(500)).build();
    long t0 = System.nanoTime();
    Exception e = assertTimeoutPreemptively(Duration.ofSeconds(30),
        () -> assertThrows(Exception.class, () -> broker.ensureRunning(bad)));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    long grandchild = -1;
    if (Files.exists(pidFile)) {
      grandchild = Long.parseLong(Files.readString(pidFile).trim());
      extraPids.add(grandchild);
    }
    System.out.println("PROBE bind-no-ready: " + ms + " ms, " + e);
    assertTrue(ms <= 500 + Broker.SPAWN_KILL_MARGIN.toMillis() + 500, "took " + ms + " ms: " + e);
    long g = grandchild;
    if (g > 0) {
      // Dead means gone from procfs or a zombie: an init that does not reap (as in some containers)
      // leaves the killed grandchild a zombie, which holds nothing.
      dev.fastbind.backend.internal.ProcessIdentity.Stat gs = dev.fastbind.backend.internal.ProcessIdentity.stat(g);
      boolean alive = gs != null && !gs.exited();
      if (alive) {
        Exception next = assertThrows(Exception.class, () -> broker.ensureRunning(bad));
        System.out.println("PROBE second call with the grandchild alive: " + next);
        fail("the failed spawn left grandchild " + g + " running (holding " + sock() + "); next call said: " + next);
      }
    }
  }

  /** Expected: a daemon command that does not exist fails at once with a message naming it. */
  @Test
  void aMissingDaemonProgramFailsClearlyAndQuickly() throws Exception {
    ServiceDefinition bad = ServiceDefinition.builder("svc")
        .command(tmp.resolve("no-such-program").toString())
        .runtimeDirectory(dir()).probeBudget(Duration.ofMillis(500)).build();
    long t0 = System.nanoTime();
    Exception e = assertTimeoutPreemptively(Duration.ofSeconds(30),
        () -> assertThrows(Exception.class, () -> broker.ensureRunning(bad)));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    System.out.println("PROBE missing program: " + ms + " ms, " + e);
    assertTrue(e.getMessage().contains("no-such-program"), e.toString());
    assertTrue(ms <= 500 + Broker.SPAWN_KILL_MARGIN.toMillis() + 500, "took " + ms + " ms");
  }

  // ---------------------------------------------------------------------------------------------
  // 7. More forged records and half-broken live daemons.
  // ---------------------------------------------------------------------------------------------

  /** Expected: status of a ctl-only plain listener named by the record is Untrusted, nothing changed. */
  @Test
  void statusOfANonDaemonListenerOnTheControlPathIsUntrusted() throws Exception {
    Path signals = tmp.resolve("signals");
    Process impostor = foreignListener(ctl(), signals);
    Lockfiles.write(lockfile(), forged(impostor.pid(), "1.0"));
    ServiceStatus s = broker.status(def);
    System.out.println("PROBE ctl-only/status: " + s);
    assertInstanceOf(ServiceStatus.Untrusted.class, s, "status: " + s);
    assertUntouched(impostor, signals);
  }

  /**
   * Expected: a record in runtime dir A naming a live daemon of the SAME service name in runtime dir B
   * (with A's endpoints, or with B's) never stops or signals B's daemon.
   */
  @Test
  void aRecordNamingTheSameServiceInAnotherRuntimeDirectoryNeverStopsThatDaemon() throws Exception {
    Path otherDir = tmp.resolve("other");
    ServiceDefinition otherDef = Fixtures.daemon(otherDir, "svc", "good").version("1.0").build();
    try {
      DaemonInfo other = broker.ensureRunning(otherDef);
      String start = ProcessIdentity.startTime(other.pid()).orElseThrow();
      Lockfiles.write(lockfile(), new LockfileRecord("svc", other.pid(), start, ProcessIdentity.bootId(),
          Endpoint.unixPath(sock()), Endpoint.unixPath(ctl()), "1.0", other.instanceId()));
      String a = outcome(() -> broker.stop(def, Duration.ofSeconds(1)));
      System.out.println("PROBE same-service/A-endpoints stop: " + a);
      assertEquals(other.pid(), EnsureRunningTest.askPid(other), "B's daemon was stopped");
      Lockfiles.write(lockfile(), new LockfileRecord("svc", other.pid(), start, ProcessIdentity.bootId(),
          other.endpoint(), other.controlEndpoint(), "1.0", other.instanceId()));
      String b = outcome(() -> broker.stop(def, Duration.ofSeconds(1)));
      System.out.println("PROBE same-service/B-endpoints stop: " + b);
      assertEquals(other.pid(), EnsureRunningTest.askPid(other), "B's daemon was stopped");
      DaemonInfo mine = broker.ensureRunning(def);
      assertTrue(mine.pid() != other.pid());
      assertEquals(other.pid(), EnsureRunningTest.askPid(other), "B's daemon was stopped");
    } finally {
      Fixtures.killMarked(otherDir);
    }
  }

  /**
   * A live, verified daemon whose control socket path was replaced by a regular file. Expected: stop
   * either refuses and changes nothing, or stops the daemon and says so; it must never kill the
   * daemon and delete its record and then throw an error claiming nothing was changed.
   */
  @Test
  void stopOfALiveDaemonWhoseControlPathIsARegularFileTellsTheTruth() throws Exception {
    DaemonInfo real = broker.ensureRunning(def);
    Files.delete(ctl());
    Files.writeString(ctl(), "not a socket");
    String did = outcome(() -> broker.stop(def, Duration.ofSeconds(2)));
    boolean alive = ProcessHandle.of(real.pid()).map(ProcessHandle::isAlive).orElse(false);
    System.out.println("PROBE ctl-regular-file/stop: " + did + "; daemon alive=" + alive + ", lockfile exists="
        + Files.exists(lockfile()));
    if (did.startsWith("threw")) {
      assertTrue(alive, "stop threw (" + did + ") but had already killed the daemon");
      assertTrue(Files.exists(lockfile()), "stop threw (" + did + ") but had already deleted the lockfile");
    } else {
      assertFalse(alive);
    }
    assertTrue(Files.isRegularFile(ctl(), LinkOption.NOFOLLOW_LINKS), "the regular file was removed");
  }

  /**
   * A live daemon whose socket file was unlinked (a tmp cleaner). Records what ensureRunning does to the
   * verified daemon. Expected: the old daemon is asked to SHUTDOWN (or SIGTERMed) before SIGKILL, like
   * stop and RESTART do; here we at least require that it is not left running without a record.
   */
  @Test
  void aLiveDaemonWhoseSocketFileWasUnlinkedIsReplacedAndNotOrphaned() throws Exception {
    DaemonInfo real = broker.ensureRunning(def);
    Files.delete(sock());
    long t0 = System.nanoTime();
    String did = outcome(() -> broker.ensureRunning(def));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    boolean alive = ProcessHandle.of(real.pid()).map(ProcessHandle::isAlive).orElse(false);
    System.out.println("PROBE unlinked-sock/ensureRunning (" + ms + " ms): " + did + "; old daemon alive=" + alive
        + "; log tail: " + tail(dir().resolve("svc.log")));
    assertFalse(alive, "the old daemon was left running without a record");
  }

  private static String tail(Path log) {
    String t = read(log);
    return t.length() > 600 ? t.substring(t.length() - 600) : t;
  }

  /**
   * Expected: a symbolic link at SERVICE.log, .spawn-lock, .spawns or .notify pointing at a file outside
   * the runtime directory is reported (path and fix), kept, never followed: the target is unchanged.
   */
  @Test
  void symlinksAtRuntimeFilesAreNeverFollowed() throws Exception {
    // svc.spawn-lock first: once this JVM has opened a spawn lock it keeps the channel (see the next test).
    for (String name : new String[] {"svc.spawn-lock", "svc.log", "svc.spawns", "svc.notify", "svc.log.1"}) {
      Path victim = tmp.resolve("victim-" + name);
      Files.writeString(victim, "precious\n");
      java.nio.file.attribute.FileTime before = Files.getLastModifiedTime(victim);
      Path link = dir().resolve(name);
      Files.createSymbolicLink(link, victim);
      if (name.equals("svc.log.1")) {
        Files.delete(link);
        Files.createSymbolicLink(link, victim);
        try (RandomAccessFile f = new RandomAccessFile(dir().resolve("svc.log").toFile(), "rw")) {
          f.setLength(4L << 20);
        }
      }
      String did = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> outcome(() -> broker.ensureRunning(def)));
      System.out.println("PROBE symlink at " + name + ": " + did);
      assertEquals("precious\n", Files.readString(victim), name + ": the link's target was written");
      assertEquals(before, Files.getLastModifiedTime(victim), name + ": the link's target was touched");
      assertTrue(Files.isSymbolicLink(link), name + ": the link was removed");
      assertTrue(did.contains(link.toString()), name + ": the error does not name the path: " + did);
      Fixtures.killMarked(dir());
      Files.delete(link);
      Files.deleteIfExists(dir().resolve("svc.log"));
      Files.deleteIfExists(lockfile());
    }
  }

  private static final String LOCKER = String.join("\n",
      "import fcntl, os, sys, time",
      "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)",
      "fcntl.lockf(fd, fcntl.LOCK_EX)",
      "open(sys.argv[2], 'w').write('locked')",
      "time.sleep(20)",
      "");

  /**
   * The spawn lock is one POSIX lock per file; this JVM caches its channel forever. If SERVICE.spawn-lock
   * is deleted (a tmp cleaner, a "clean" command, a hostile process) and another launcher then creates a
   * new one and holds it, this JVM's broker keeps locking the deleted inode and walks into the cold path
   * beside the other launcher. Expected: stop waits for the other launcher and fails with
   * SpawnLockTimeoutException after its patience; it must not stop the daemon while another launcher
   * holds the service's lock.
   */
  @Test
  void aReplacedSpawnLockFileStillExcludesOtherLaunchers() throws Exception {
    ServiceDefinition d = Fixtures.daemon(dir(), "svc", "good").version("1.0")
        .spawnLockPatience(Duration.ofMillis(500)).build();
    DaemonInfo real = broker.ensureRunning(d); // this JVM now holds a channel on svc.spawn-lock
    Path spawnLock = dir().resolve("svc.spawn-lock");
    Files.delete(spawnLock);
    Path locked = tmp.resolve("locked");
    start("python3", "-c", LOCKER, spawnLock.toString(), locked.toString());
    Await.until(Duration.ofSeconds(10), () -> Files.exists(locked), () -> "the other launcher did not lock");
    String did = outcome(() -> broker.stop(d, Duration.ofSeconds(2)));
    boolean alive = ProcessHandle.of(real.pid()).map(ProcessHandle::isAlive).orElse(false);
    System.out.println("PROBE replaced spawn-lock/stop while another process holds the new one: " + did
        + "; daemon alive=" + alive);
    assertTrue(did.contains("SpawnLockTimeoutException"), "stop ran beside another lock holder: " + did);
    assertTrue(alive, "the daemon was stopped while another launcher held the spawn lock");
  }

  /** As above, for ensureRunning: two launchers in the cold path at once must never spawn two daemons. */
  @Test
  void aReplacedSpawnLockFileStillPreventsASecondSpawn() throws Exception {
    ServiceDefinition d = Fixtures.daemon(dir(), "svc", "good").version("1.0")
        .spawnLockPatience(Duration.ofMillis(500)).build();
    DaemonInfo first = broker.ensureRunning(d);
    assertEquals(StopResult.SHUT_DOWN, broker.stop(d, Duration.ofSeconds(5)));
    Path spawnLock = dir().resolve("svc.spawn-lock");
    Files.delete(spawnLock);
    Path locked = tmp.resolve("locked");
    start("python3", "-c", LOCKER, spawnLock.toString(), locked.toString());
    Await.until(Duration.ofSeconds(10), () -> Files.exists(locked), () -> "the other launcher did not lock");
    String did = outcome(() -> broker.ensureRunning(d));
    System.out.println("PROBE replaced spawn-lock/ensureRunning while another process holds the new one: " + did
        + " (first daemon was " + first.pid() + ")");
    assertTrue(did.contains("SpawnLockTimeoutException"), "ensureRunning spawned beside another lock holder: " + did);
  }

  /**
   * Control for the two tests above: the python locker does exclude this JVM's broker when the file
   * was not replaced (a fresh directory, so no cached channel). Expected and observed: timeout.
   */
  @Test
  void controlThePythonLockerExcludesTheBrokerOnAnUnreplacedFile() throws Exception {
    ServiceDefinition d = Fixtures.daemon(dir(), "svc", "good").version("1.0")
        .spawnLockPatience(Duration.ofMillis(500)).build();
    Path spawnLock = dir().resolve("svc.spawn-lock");
    Path locked = tmp.resolve("locked");
    start("python3", "-c", LOCKER, spawnLock.toString(), locked.toString());
    Await.until(Duration.ofSeconds(10), () -> Files.exists(locked), () -> "the other launcher did not lock");
    String did = outcome(() -> broker.ensureRunning(d));
    System.out.println("PROBE control locker: " + did);
    assertTrue(did.contains("SpawnLockTimeoutException"), did);
  }

  /**
   * A process that holds both endpoints (so the peer pid is the recorded pid) and answers HELLO with a
   * frame header claiming {@code length} bytes, then trickles one byte every 50 ms for 30 s.
   */
  private static final String TRICKLER = String.join("\n",
      "import socket, os, sys, time, threading, struct",
      "a = socket.socket(socket.AF_UNIX); a.bind(sys.argv[1]); a.listen(16)",
      "c = socket.socket(socket.AF_UNIX); c.bind(sys.argv[2]); c.listen(16)",
      "n = int(sys.argv[3])",
      "def trickle(k):",
      "    try:",
      "        k.recv(4096)",
      "        k.sendall(struct.pack('>I', n))",
      "        for i in range(600):",
      "            k.sendall(b'x'); time.sleep(0.05)",
      "    except Exception:",
      "        pass",
      "def serve():",
      "    while True:",
      "        k, _ = c.accept()",
      "        threading.Thread(target=trickle, args=(k,), daemon=True).start()",
      "threading.Thread(target=serve, daemon=True).start()",
      "time.sleep(60)",
      "");

  /**
   * Expected: a hostile control endpoint (huge frame length, or a plausible one trickled slowly) cannot
   * hang or exhaust status or stop: each returns within the probe budget plus slack, with a typed
   * answer, and the process (not provably the daemon) is not reported Running.
   */
  @Test
  void aTricklingOrHugeControlReplyCannotHangStatusOrStop() throws Exception {
    for (int length : new int[] {0x7ffffff0, 200}) {
      Process p = start("setsid", "python3", "-c", TRICKLER, sock().toString(), ctl().toString(),
          Integer.toString(length));
      Await.until(Duration.ofSeconds(10), () -> Probe.connects(sock()) && Probe.connects(ctl()),
          () -> "the trickler did not listen");
      Lockfiles.write(lockfile(), forged(p.pid(), "1.0"));
      ServiceDefinition d = Fixtures.daemon(dir(), "svc", "good").version("1.0")
          .probeBudget(Duration.ofSeconds(1)).build();
      long t0 = System.nanoTime();
      ServiceStatus st = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> broker.status(d));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      System.out.println("PROBE trickler length " + length + ": status in " + ms + " ms: " + st);
      assertTrue(ms < 2500, "status took " + ms + " ms");
      assertFalse(st instanceof ServiceStatus.Running, "reported Running: " + st);
      Cleanup.killTree(p);
      Files.deleteIfExists(lockfile());
      Files.deleteIfExists(sock());
      Files.deleteIfExists(ctl());
    }
  }

  /**
   * Symbolic links at SERVICE.sock and SERVICE.ctl pointing at the sockets of a live daemon of the same
   * service name in ANOTHER runtime directory, and a record naming that daemon with this directory's
   * own endpoints. Expected (DESIGN "socket paths never followed through symlinks", issue 9 points 2 and
   * 5): ensureRunning never hands out an endpoint that is a link (NOT_A_RUNTIME_FILE naming the path),
   * status is Untrusted, and no connection made through the returned endpoint reaches the other daemon.
   */
  @Test
  void symlinksAtTheSocketPathsToAnotherDirectorysDaemonAreNeverTrusted() throws Exception {
    Path otherDir = tmp.resolve("other");
    ServiceDefinition otherDef = Fixtures.daemon(otherDir, "svc", "good").version("1.0").build();
    try {
      DaemonInfo other = broker.ensureRunning(otherDef);
      Files.createSymbolicLink(sock(), other.endpoint().path().orElseThrow());
      Files.createSymbolicLink(ctl(), other.controlEndpoint().path().orElseThrow());
      Lockfiles.write(lockfile(), new LockfileRecord("svc", other.pid(),
          ProcessIdentity.startTime(other.pid()).orElseThrow(), ProcessIdentity.bootId(),
          Endpoint.unixPath(sock()), Endpoint.unixPath(ctl()), "1.0", other.instanceId()));

      String st = outcome(() -> broker.status(def));
      String er = outcome(() -> broker.ensureRunning(def));
      String reached = outcome(() -> EnsureRunningTest.askPid(broker.ensureRunning(def)));
      String sp = outcome(() -> broker.stop(def, Duration.ofSeconds(1)));
      System.out.println("PROBE symlinked sockets: status " + st + "\n  ensureRunning " + er
          + "\n  a launcher connecting to the returned endpoint reached pid: " + reached + " (other daemon is "
          + other.pid() + ")\n  stop " + sp);
      assertEquals(other.pid(), EnsureRunningTest.askPid(other), "the other directory's daemon was stopped");
      assertTrue(Files.isSymbolicLink(sock()) && Files.isSymbolicLink(ctl()), "a link was removed");
      assertFalse(st.contains("Running"), "status trusted a daemon reached through links: " + st);
      assertFalse(er.startsWith("returned"), "ensureRunning handed out an endpoint that is a link: " + er);
    } finally {
      Fixtures.killMarked(otherDir);
    }
  }

  /**
   * As above with hard links instead of symbolic links (lstat shows a socket, so an lstat check alone
   * cannot catch it). Expected: ensureRunning/status do not trust a daemon that does not hold this
   * directory's endpoints (DaemonVerification already says so for stop).
   */
  @Test
  void hardLinksAtTheSocketPathsToAnotherDirectorysDaemonAreNeverTrusted() throws Exception {
    Path otherDir = tmp.resolve("other");
    ServiceDefinition otherDef = Fixtures.daemon(otherDir, "svc", "good").version("1.0").build();
    try {
      DaemonInfo other = broker.ensureRunning(otherDef);
      Files.createLink(sock(), other.endpoint().path().orElseThrow());
      Files.createLink(ctl(), other.controlEndpoint().path().orElseThrow());
      Lockfiles.write(lockfile(), new LockfileRecord("svc", other.pid(),
          ProcessIdentity.startTime(other.pid()).orElseThrow(), ProcessIdentity.bootId(),
          Endpoint.unixPath(sock()), Endpoint.unixPath(ctl()), "1.0", other.instanceId()));
      String st = outcome(() -> broker.status(def));
      String er = outcome(() -> broker.ensureRunning(def));
      System.out.println("PROBE hard-linked sockets: status " + st + "\n  ensureRunning " + er);
      assertEquals(other.pid(), EnsureRunningTest.askPid(other), "the other directory's daemon was stopped");
      assertFalse(st.contains("Running"), "status trusted a daemon that does not hold this directory's endpoints: " + st);
      assertFalse(er.contains("pid=" + other.pid()), "ensureRunning handed out the other directory's daemon: " + er);
    } finally {
      Fixtures.killMarked(otherDir);
    }
  }

  /**
   * One budget per call (issue 9 point 8): ensureRunning with a 500 ms probe budget, facing a recorded
   * process with another version that ignores SIGTERM (a JVM whose shutdown hook hangs behaves so), and
   * a replacement that hangs. Expected: the call returns within 500 ms + SPAWN_KILL_MARGIN + slack.
   */
  @Test
  void replacingAWedgedDaemonStaysWithinTheCallsBudget() throws Exception {
    Path signals = tmp.resolve("signals");
    Process wedged = foreignListener(sock(), signals);
    Lockfiles.write(lockfile(), forged(wedged.pid(), "0.9"));
    ServiceDefinition d = Fixtures.daemon(dir(), "svc", "hang").version("1.0")
        .probeBudget(Duration.ofMillis(500)).build();
    long t0 = System.nanoTime();
    String did = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> outcome(() -> broker.ensureRunning(d)));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    System.out.println("PROBE replace wedged, 500 ms budget: " + ms + " ms: " + did);
    assertTrue(ms <= 500 + Broker.SPAWN_KILL_MARGIN.toMillis() + 1000, "took " + ms + " ms: " + did);
  }

  /** Expected: a non-empty directory at any runtime path gives one error naming the path and the fix; kept; nothing spawned. */
  @Test
  void aDirectoryAtEachRuntimePathIsReportedNamedAndKept() throws Exception {
    // svc.spawn-lock first: this JVM caches its channel once opened (see aReplacedSpawnLockFile*).
    for (String name : new String[] {"svc.spawn-lock", "svc.sock", "svc.notify", "svc.spawns", "svc.log"}) {
      Path d = dir().resolve(name);
      if (Files.isRegularFile(d, LinkOption.NOFOLLOW_LINKS)) {
        Files.delete(d); // a log or count a previous iteration created
      }
      Files.createDirectory(d);
      Files.writeString(d.resolve("inside"), "x");
      String did = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> outcome(() -> broker.ensureRunning(def)));
      String st = outcome(() -> broker.status(def));
      System.out.println("PROBE directory at " + name + ": ensureRunning " + did + "; status " + st);
      assertTrue(did.startsWith("threw") && did.contains(d.toString()) && did.contains("remove"), name + ": " + did);
      assertTrue(Files.isRegularFile(d.resolve("inside")), name + ": the directory was emptied");
      assertTrue(Fixtures.marked(dir()).isEmpty(), name + ": a daemon was spawned");
      Files.delete(d.resolve("inside"));
      Files.delete(d);
      Path spawns = dir().resolve("svc.spawns");
      if (Files.isRegularFile(spawns, LinkOption.NOFOLLOW_LINKS)) {
        System.out.println("PROBE directory at " + name + ": svc.spawns now holds: " + read(spawns).trim());
        Files.delete(spawns);
      }
    }
  }

  /**
   * Expected (issue 9: refusals "do not count toward the crash-loop limit"): a hostile file at the notify
   * socket path refuses every call with the same error naming it; the refusals never turn into a
   * CrashLoopException, and nothing is counted in SERVICE.spawns.
   */
  @Test
  void refusalsAboutTheNotifySocketNeverCountTowardTheCrashLoopLimit() throws Exception {
    Path notify = dir().resolve("svc.notify");
    Files.createDirectory(notify);
    ServiceDefinition strict = Fixtures.daemon(dir(), "svc", "good").crashLoopLimit(2, Duration.ofMinutes(5)).build();
    List<String> seen = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      seen.add(outcome(() -> broker.ensureRunning(strict)));
    }
    Path spawns = dir().resolve("svc.spawns");
    System.out.println("PROBE notify refusals x4: " + seen + "; svc.spawns: "
        + (Files.exists(spawns) ? read(spawns).trim() : "(absent)"));
    for (String s : seen) {
      assertTrue(s.contains(notify.toString()) && !s.contains("CrashLoop"), s);
    }
    assertTrue(Fixtures.marked(dir()).isEmpty(), "a daemon was spawned");
  }

  /** Expected: garbage in SERVICE.spawns is repaired or reported naming the file; never a bare parse exception. */
  @Test
  void garbageInTheSpawnsFileIsHandled() throws Exception {
    Files.writeString(dir().resolve("svc.spawns"), "99999999999999999999999 x\n-5\n\u0000\u00ff\nNaN NaN\n");
    String did = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> outcome(() -> broker.ensureRunning(def)));
    System.out.println("PROBE garbage spawns: " + did);
    assertTrue(did.startsWith("returned") || did.contains(dir().resolve("svc.spawns").toString()), did);
  }

  private static final String ABSTRACT_LISTENER = String.join("\n",
      "import socket, sys, time",
      "s = socket.socket(socket.AF_UNIX); s.bind('\\0' + sys.argv[1]); s.listen(16)",
      "time.sleep(60)",
      "");

  /** Expected: a record with abstract endpoints (not the definition's own) naming a live abstract listener is foreign: never trusted, never signalled. */
  @Test
  void aRecordWithAbstractEndpointsIsForeign() throws Exception {
    String name = "fastbind-probe-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    Process p = start("python3", "-c", ABSTRACT_LISTENER, name);
    Endpoint listening = Endpoint.abstractName(name);
    Await.until(Duration.ofSeconds(10), () -> !dev.fastbind.backend.internal.SocketHolders.listeningInodes(listening)
        .isEmpty(), () -> "the abstract listener did not listen");
    Lockfiles.write(lockfile(), new LockfileRecord("svc", p.pid(), ProcessIdentity.startTime(p.pid()).orElseThrow(),
        ProcessIdentity.bootId(), Endpoint.abstractName(name), Endpoint.abstractName(name + "-ctl"), "1.0",
        LockfileRecord.newInstanceId()));
    String st = outcome(() -> broker.status(def));
    String sp = outcome(() -> broker.stop(def, Duration.ZERO));
    System.out.println("PROBE abstract record: status " + st + "; stop " + sp);
    assertTrue(p.isAlive(), "the abstract listener was killed");
    assertTrue(st.contains("Stale"), st);
  }
}
