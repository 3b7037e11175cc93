package dev.fastbind.broker;

import dev.fastbind.backend.internal.wire.LockfileCodec;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import dev.fastbind.testsupport.Signals;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad lockfiles and unsafe directories: each is reported with its reason, and nothing crashes. */
class StaleStateTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();
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
    def = Fixtures.daemon(dir(), "svc", "good").build();
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    Fixtures.killMarked(dir());
  }

  private LockfileRecord record(long pid, String startTime) throws Exception {
    return new LockfileRecord("svc", pid, startTime, ProcessIdentity.bootId(),
        Endpoint.unixPath(dir().resolve("svc.sock")), Endpoint.unixPath(dir().resolve("svc.ctl")), "1.0",
        LockfileRecord.newInstanceId());
  }

  /** Status reports the stale reason with {@code detailPart}; ensureRunning then spawns for that reason. */
  private void staleThenRespawned(SpawnReason reason, String detailPart) throws Exception {
    ServiceStatus.Stale stale = assertInstanceOf(ServiceStatus.Stale.class, broker.status(def));
    assertEquals(reason, stale.reason());
    assertTrue(stale.detail().contains(detailPart), stale.detail());
    DaemonInfo info = broker.ensureRunning(def);
    assertEquals(Optional.of(reason), info.spawnReason());
    assertEquals(info.pid(), EnsureRunningTest.askPid(info));
    assertEquals(info.instanceId(), Lockfiles.read(lockfile()).orElseThrow().instanceId(), "fresh lockfile");
  }

  @Test
  void garbageLockfile() throws Exception {
    Files.write(lockfile(), "\u0000\u00ffnot a lockfile at all\n".getBytes(StandardCharsets.ISO_8859_1));
    staleThenRespawned(SpawnReason.CORRUPT_LOCKFILE, "FOREIGN");
  }

  @Test
  void emptyLockfile() throws Exception {
    Files.createFile(lockfile());
    staleThenRespawned(SpawnReason.CORRUPT_LOCKFILE, "EMPTY");
  }

  @Test
  void truncatedLockfile() throws Exception {
    byte[] full = LockfileCodec.encode(record(ProcessHandle.current().pid(), "ticks:1"));
    Files.write(lockfile(), Arrays.copyOf(full, full.length / 2));
    staleThenRespawned(SpawnReason.CORRUPT_LOCKFILE, "TRUNCATED");
  }

  @Test
  void lockfileFromAFutureFormat() throws Exception {
    String text = new String(LockfileCodec.encode(record(ProcessHandle.current().pid(), "ticks:1")), StandardCharsets.UTF_8);
    Files.writeString(lockfile(), text.replaceFirst("fastbind-lockfile 1", "fastbind-lockfile 99"));
    staleThenRespawned(SpawnReason.CORRUPT_LOCKFILE, "FUTURE_VERSION");
  }

  @Test
  void symlinkedLockfileIsReportedNeverFollowedNorRemoved() throws Exception {
    Path target = tmp.resolve("elsewhere.lock");
    Lockfiles.write(target, record(ProcessHandle.current().pid(), ProcessIdentity.startTime(ProcessHandle.current().pid()).orElseThrow()));
    Files.createSymbolicLink(lockfile(), target);
    ServiceStatus.Untrusted status = assertInstanceOf(ServiceStatus.Untrusted.class, broker.status(def));
    assertEquals(UntrustedStateException.Kind.NOT_A_RUNTIME_FILE, status.kind());
    UntrustedStateException e = assertThrows(UntrustedStateException.class, () -> broker.ensureRunning(def));
    assertTrue(e.getMessage().contains(lockfile().toString()) && e.getMessage().contains("symbolic link"),
        e.getMessage());
    assertThrows(UntrustedStateException.class, () -> broker.stop(def));
    assertTrue(Files.isSymbolicLink(lockfile()), "the link is never removed");
    assertTrue(Files.exists(target), "the link's target is untouched");
    assertTrue(Fixtures.marked(dir()).isEmpty(), "nothing was spawned");
  }

  @Test
  void lockfileNamingALiveUnrelatedProcessWithAnotherStartTime() throws Exception {
    long unrelated = ProcessHandle.current().pid();
    Lockfiles.write(lockfile(), record(unrelated, "ticks:1"));
    staleThenRespawned(SpawnReason.PID_REUSED, "pid " + unrelated);
  }

  @Test
  @RequiresCapability(Capability.SLEEP)
  void lockfileNamingALiveUnrelatedProcessExactlyIsNotKilled() throws Exception {
    // A real bystander (bounded: it ends by itself after 60 s) that the lockfile names exactly.
    Process bystander = new ProcessBuilder(Capability.SLEEP.executable().toString(), "60").start();
    try {
      long pid = bystander.pid();
      Lockfiles.write(lockfile(), record(pid, ProcessIdentity.startTime(pid).orElseThrow()));
      staleThenRespawned(SpawnReason.UNCONNECTABLE_SOCKET, "refuses connections");
      assertTrue(bystander.isAlive(), "the unrelated process named in the lockfile was left alone");
    } finally {
      Cleanup.killTree(bystander);
    }
  }

  @Test
  void lockfileOfAnotherServiceIsStale() throws Exception {
    LockfileRecord r = record(ProcessHandle.current().pid(), "ticks:1");
    Lockfiles.write(lockfile(), new LockfileRecord("other", r.pid(), r.processStartTime(), r.bootId(), r.endpoint(),
        r.controlEndpoint(), r.daemonVersion(), r.instanceId()));
    staleThenRespawned(SpawnReason.CORRUPT_LOCKFILE, "names service 'other'");
  }

  @Test
  void leftoverSocketFilesFromAKilledDaemonAreReclaimed() throws Exception {
    DaemonInfo first = broker.ensureRunning(def);
    Signals.kill(first.pid());
    assertTrue(Files.exists(dir().resolve("svc.sock")), "kill -9 leaves the socket file");
    DaemonInfo second = broker.ensureRunning(def);
    assertEquals(Optional.of(SpawnReason.DEAD_PID), second.spawnReason());
    assertEquals(second.pid(), EnsureRunningTest.askPid(second));
  }

  @Test
  void runtimeDirectoryOpenToOthersIsRefusedWithTheFix() throws Exception {
    Files.setPosixFilePermissions(dir(), PosixFilePermissions.fromString("rwxr-xr-x"));
    RuntimeFileException e = assertThrows(RuntimeFileException.class,
        () -> broker.ensureRunning(def));
    assertTrue(e.getMessage().contains("chmod 700"), e.getMessage());
    assertTrue(Fixtures.marked(dir()).isEmpty(), "nothing was spawned");
  }

  @Test
  void symlinkedRuntimeDirectoryIsRefused() throws Exception {
    Path link = tmp.resolve("link");
    Files.createSymbolicLink(link, dir());
    ServiceDefinition viaLink = Fixtures.daemon(link, "svc", "good").build();
    RuntimeFileException e = assertThrows(RuntimeFileException.class, () -> broker.ensureRunning(viaLink));
    assertEquals(link, e.path());
    assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
  }
}
