package dev.fastbind.broker;

import dev.fastbind.backend.internal.wire.LockfileCodec;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.broker.internal.Probe;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A lockfile is a claim, the kernel is the fact: forged, foreign and unreadable records next to real
 * processes. Every forged record names only processes this test started (a sacrificial process tree,
 * a {@code sleep} bystander, a daemon of another service), never pid 1 or anything else.
 */
class VerificationTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();
  private final List<Process> started = new ArrayList<>();
  private ServiceDefinition def;

  private Path dir() {
    return tmp.resolve("rt");
  }

  private Path lockfile() {
    return dir().resolve("svc.lock");
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
    Fixtures.killMarked(dir());
    Fixtures.killMarked(tmp.resolve("other"));
  }

  /** Starts {@code command} as this test's own process, ended in {@link #noProcessLeft}. */
  private Process start(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    started.add(p);
    return p;
  }

  /**
   * A sacrificial process tree in a session of its own: a shell that notes every SIGTERM it gets in
   * {@code signals} and ignores it, with a child {@code sleep}. Both end by themselves within 60 s.
   */
  private Process sacrificialTree(Path signals) throws Exception {
    Process p = start("setsid", "sh", "-c", "trap 'echo TERM >> " + signals + "' TERM; sleep 60 & while :; do wait; done");
    Await.until(Duration.ofSeconds(10), () -> p.descendants().findAny().isPresent(),
        () -> "the sacrificial tree's child did not start");
    return p;
  }

  private LockfileRecord forged(long pid, String version) throws Exception {
    return new LockfileRecord("svc", pid, ProcessIdentity.startTime(pid).orElseThrow(), ProcessIdentity.bootId(),
        Endpoint.unixPath(dir().resolve("svc.sock")), Endpoint.unixPath(dir().resolve("svc.ctl")), version,
        LockfileRecord.newInstanceId());
  }

  private static void assertUntouched(Process tree, Path signals) {
    assertTrue(tree.isAlive(), "the process named in the forged record was killed");
    assertTrue(tree.descendants().allMatch(ProcessHandle::isAlive), "its child was killed");
    assertFalse(Files.exists(signals), "it was signalled");
  }

  @Test
  void stopRefusesAndSignalsNothingWhenTheRecordNamesAProcessTreeThatIsNotTheDaemon() throws Exception {
    Path signals = tmp.resolve("signals");
    Process tree = sacrificialTree(signals);
    Lockfiles.write(lockfile(), forged(tree.pid(), "1.0"));

    UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.stop(def, Duration.ZERO));
    assertEquals(UntrustedStateException.Kind.UNVERIFIED_PROCESS, e.kind());
    assertTrue(e.getMessage().contains("refusing to signal pid " + tree.pid()), e.getMessage());
    assertTrue(e.getMessage().contains("does not hold"), e.getMessage());
    assertUntouched(tree, signals);
    assertTrue(Files.exists(lockfile()), "stop removed the record it refused");

    // ensureRunning drops the claim (nothing listens at the endpoint) and spawns, still signalling nothing.
    DaemonInfo info = broker.ensureRunning(def);
    assertEquals(Optional.of(SpawnReason.UNCONNECTABLE_SOCKET), info.spawnReason());
    assertNotEquals(tree.pid(), info.pid());
    assertUntouched(tree, signals);
  }

  @Test
  void aForgedRecordBesideALiveDaemonNeitherSignalsTheNamedProcessNorTheDaemon() throws Exception {
    DaemonInfo real = broker.ensureRunning(def);
    Path signals = tmp.resolve("signals");
    Process tree = sacrificialTree(signals);
    byte[] forged = LockfileCodec.encode(forged(tree.pid(), "0.9"));
    Files.write(lockfile(), forged);

    // The hot path verifies a daemon it has not seen before: the named process holds nothing, so the
    // record is not trusted, and the endpoint is reported as held by the real daemon, which is named.
    UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.ensureRunning(def));
    assertEquals(UntrustedStateException.Kind.ENDPOINT_HELD, e.kind());
    assertTrue(e.getMessage().contains("pid " + real.pid()), "names the real holder: " + e.getMessage());
    assertThrows(UntrustedStateException.class, () -> broker.stop(def, Duration.ZERO));

    assertUntouched(tree, signals);
    assertTrue(ProcessHandle.of(real.pid()).map(ProcessHandle::isAlive).orElse(false), "the real daemon was killed");
    assertEquals(real.pid(), EnsureRunningTest.askPid(real));
    assertArrayEquals(forged, Files.readAllBytes(lockfile()), "the record was changed");
  }

  @Test
  void aRecordNamingAnotherServicesEndpointsNeverStopsThatDaemon() throws Exception {
    Path otherDir = tmp.resolve("other");
    ServiceDefinition otherDef = Fixtures.daemon(otherDir, "other", "good").build();
    DaemonInfo other = broker.ensureRunning(otherDef);
    LockfileRecord r = new LockfileRecord("svc", other.pid(), ProcessIdentity.startTime(other.pid()).orElseThrow(),
        ProcessIdentity.bootId(), other.endpoint(), other.controlEndpoint(), "1.0", other.instanceId());
    Lockfiles.write(lockfile(), r);

    ServiceStatus.Stale stale = assertInstanceOf(ServiceStatus.Stale.class, broker.status(def));
    assertTrue(stale.detail().contains("not the service's own"), stale.detail());
    assertEquals(StopResult.CLEANED_STALE, broker.stop(def, Duration.ofSeconds(2)));
    assertInstanceOf(ServiceStatus.Running.class, broker.status(otherDef), "the other service's daemon was stopped");
    assertEquals(other.pid(), EnsureRunningTest.askPid(other));
  }

  @Test
  void aRecordNamingAnEndpointOutsideTheRuntimeDirectoryIsNeverReturned() throws Exception {
    Path outside = tmp.resolve("outside.sock");
    Process bystander = start("sleep", "60");
    try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      listener.bind(UnixDomainSocketAddress.of(outside));
      LockfileRecord r = forged(bystander.pid(), "1.0");
      Lockfiles.write(lockfile(), new LockfileRecord("svc", r.pid(), r.processStartTime(), r.bootId(),
          Endpoint.unixPath(outside), r.controlEndpoint(), "1.0", r.instanceId()));

      DaemonInfo info = broker.ensureRunning(def);
      assertTrue(info.spawned(), "a foreign endpoint was returned as the daemon: " + info);
      assertEquals(Endpoint.unixPath(dir().resolve("svc.sock")), info.endpoint());
      assertTrue(info.spawnDetail().contains(outside.toString()), info.spawnDetail());
      assertTrue(bystander.isAlive());
    }
  }

  @Test
  void aRecordNamingABystanderBesideALiveDaemonIsUntrustedAndNamesTheRealHolder() throws Exception {
    DaemonInfo real = broker.ensureRunning(def);
    Process bystander = start("sleep", "60");
    Lockfiles.write(lockfile(), forged(bystander.pid(), "1.0"));

    ServiceStatus.Untrusted status = assertInstanceOf(ServiceStatus.Untrusted.class, broker.status(def));
    assertEquals(UntrustedStateException.Kind.ENDPOINT_HELD, status.kind());
    assertTrue(status.detail().contains("held by pid " + real.pid()), status.detail());
    assertThrows(UntrustedStateException.class, () -> broker.stop(def));
    assertTrue(bystander.isAlive());
    assertEquals(real.pid(), EnsureRunningTest.askPid(real));
  }

  @Test
  void helloNamingAnotherInstanceIsAnImpostorAndNeverShutDown() throws Exception {
    DaemonInfo real = broker.ensureRunning(def);
    LockfileRecord r = Lockfiles.read(lockfile()).orElseThrow();
    Lockfiles.write(lockfile(), new LockfileRecord(r.service(), r.pid(), r.processStartTime(), r.bootId(),
        r.endpoint(), r.controlEndpoint(), r.daemonVersion(), LockfileRecord.newInstanceId()));

    ServiceStatus.Untrusted status = assertInstanceOf(ServiceStatus.Untrusted.class, broker.status(def));
    assertEquals(UntrustedStateException.Kind.IMPOSTOR, status.kind());
    assertTrue(status.detail().contains("instance " + real.instanceId()), status.detail());
    UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.stop(def));
    assertEquals(UntrustedStateException.Kind.IMPOSTOR, e.kind());
    assertEquals(real.pid(), EnsureRunningTest.askPid(real), "the daemon was shut down");
    assertEquals("svc", ControlClient.hello(real.controlEndpoint(), Fixtures.PATIENT).service());
  }

  @Test
  void aFutureFormatLockfileBesideALiveDaemonIsReportedAndKept() throws Exception {
    DaemonInfo real = broker.ensureRunning(def);
    byte[] original = Files.readAllBytes(lockfile());
    String text = new String(original, StandardCharsets.UTF_8);
    byte[] future = text.replaceFirst("fastbind-lockfile 1", "fastbind-lockfile 2").getBytes(StandardCharsets.UTF_8);
    Files.write(lockfile(), future);

    ServiceStatus.Untrusted status = assertInstanceOf(ServiceStatus.Untrusted.class, broker.status(def));
    assertEquals(UntrustedStateException.Kind.UNREADABLE_LOCKFILE, status.kind());
    assertTrue(status.detail().contains("FUTURE_VERSION") && status.detail().contains("format 1"), status.detail());
    UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.ensureRunning(def));
    assertTrue(e.getMessage().contains(lockfile().toString()), e.getMessage());
    assertThrows(UntrustedStateException.class, () -> broker.stop(def));
    assertArrayEquals(future, Files.readAllBytes(lockfile()), "the newer daemon's lockfile was changed");
    assertEquals(real.pid(), EnsureRunningTest.askPid(real), "the newer daemon was stopped");
    assertTrue(Fixtures.marked(dir()).size() == 1, "a second daemon was spawned: " + Fixtures.marked(dir()));

    Files.write(lockfile(), original);
    assertEquals(StopResult.SHUT_DOWN, broker.stop(def));
  }

  @Test
  void aLockfileWithOneFlippedByteBesideALiveDaemonIsReportedAndKept() throws Exception {
    DaemonInfo real = broker.ensureRunning(def);
    byte[] bytes = Files.readAllBytes(lockfile());
    int at = new String(bytes, StandardCharsets.UTF_8).indexOf("pid=") + 4;
    bytes[at] = (byte) (bytes[at] == '9' ? '8' : bytes[at] + 1);
    Files.write(lockfile(), bytes);

    UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.ensureRunning(def));
    assertEquals(UntrustedStateException.Kind.UNREADABLE_LOCKFILE, e.kind());
    assertTrue(e.getMessage().contains("CORRUPT") && e.getMessage().contains("pid " + real.pid()), e.getMessage());
    assertThrows(UntrustedStateException.class, () -> broker.stop(def));
    assertArrayEquals(bytes, Files.readAllBytes(lockfile()));
    assertEquals(real.pid(), EnsureRunningTest.askPid(real), "the daemon lost its record and kept running");
  }

  @Test
  @RequiresCapability(Capability.SOCAT)
  void anEndpointHeldByAnotherProcessIsNamedAndNeverCountsAsACrash() throws Exception {
    Process gone = start("sleep", "60");
    LockfileRecord dead = forged(gone.pid(), "1.0");
    Cleanup.killTree(gone);
    Lockfiles.write(lockfile(), dead);
    Path sock = dir().resolve("svc.sock");
    Process holder = start(Capability.SOCAT.executable().toString(), "UNIX-LISTEN:" + sock + ",fork", "/dev/null");
    Await.until(Duration.ofSeconds(10), () -> Probe.connects(sock), () -> "socat did not listen at " + sock);
    ServiceDefinition strict = Fixtures.daemon(dir(), "svc", "good").crashLoopLimit(1, Duration.ofMinutes(5)).build();

    for (int i = 0; i < 3; i++) {
      UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.ensureRunning(strict));
      assertEquals(UntrustedStateException.Kind.ENDPOINT_HELD, e.kind());
      assertEquals(holder.pid(), e.pid().orElseThrow(), e.getMessage());
      assertTrue(e.getMessage().contains("socat") && e.getMessage().contains("kill " + holder.pid()), e.getMessage());
    }
    assertInstanceOf(ServiceStatus.Untrusted.class, broker.status(strict));
    assertTrue(Files.exists(sock), "the held socket was removed");
    assertFalse(Files.exists(dir().resolve("svc.spawns")), "a refused start counted toward the crash-loop limit");
    assertTrue(Fixtures.marked(dir()).isEmpty(), "a daemon was spawned beside the holder");

    Cleanup.killTree(holder);
    DaemonInfo info = broker.ensureRunning(strict);
    assertEquals(info.pid(), EnsureRunningTest.askPid(info));
  }

  @Test
  void aSymlinkOrFileAtASocketPathIsReportedAndNeverRemoved() throws Exception {
    Path target = tmp.resolve("target.sock");
    Files.createSymbolicLink(dir().resolve("svc.sock"), target);
    Files.writeString(dir().resolve("svc.ctl"), "not a socket");

    UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.ensureRunning(def));
    assertEquals(UntrustedStateException.Kind.NOT_A_RUNTIME_FILE, e.kind());
    assertTrue(e.getMessage().contains(dir().resolve("svc.sock").toString())
        && e.getMessage().contains("symbolic link") && e.getMessage().contains("remove it"), e.getMessage());
    assertThrows(UntrustedStateException.class, () -> broker.stop(def));
    assertTrue(Files.isSymbolicLink(dir().resolve("svc.sock")), "the link was removed");
    assertTrue(Files.isRegularFile(dir().resolve("svc.ctl")), "the file was removed");
    assertTrue(Fixtures.marked(dir()).isEmpty(), "a daemon was spawned");
  }

  @Test
  void aDirectoryAtTheLockfilePathIsReportedAndNeverRemoved() throws Exception {
    Files.createDirectory(lockfile());
    UntrustedStateException empty = assertThrows(UntrustedStateException.class, () -> broker.ensureRunning(def));
    assertTrue(empty.getMessage().contains(lockfile().toString()) && empty.getMessage().contains("directory"),
        empty.getMessage());
    Files.writeString(lockfile().resolve("inside"), "x");
    assertInstanceOf(ServiceStatus.Untrusted.class, broker.status(def));
    assertThrows(UntrustedStateException.class, () -> broker.stop(def));
    assertTrue(Files.isRegularFile(lockfile().resolve("inside")), "the directory was emptied");
  }

  @Test
  void statusCreatesNothing() throws Exception {
    Path missing = tmp.resolve("never-made");
    ServiceDefinition nowhere = Fixtures.daemon(missing, "svc", "good").build();
    assertInstanceOf(ServiceStatus.Absent.class, broker.status(nowhere));
    assertFalse(Files.exists(missing), "status created the runtime directory");
  }
}
