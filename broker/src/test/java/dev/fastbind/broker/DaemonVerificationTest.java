package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.broker.internal.DaemonVerification;
import dev.fastbind.broker.internal.ProcessTree;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the kernel must confirm before the broker signals a recorded process. Records here only ever
 * name pid 1 (to be refused, never signalled), this JVM, or processes this test started.
 */
class DaemonVerificationTest {

  @TempDir Path tmp;

  private ServiceLayout paths;
  private Process bystander;

  @BeforeEach
  void directory() throws Exception {
    RuntimeDirectory.ensureOwnerOnly(tmp.resolve("rt"));
    paths = ServiceLayout.of("svc", tmp.resolve("rt"));
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    if (bystander != null) {
      Cleanup.killTree(bystander); // runuser's sleep too, which outlives a killed runuser
    }
    Fixtures.killMarked(tmp.resolve("rt"));
  }

  private LockfileRecord naming(long pid, String startTime) {
    return new LockfileRecord("svc", pid, startTime, ProcessIdentity.bootId(), paths.endpoint(),
        paths.controlEndpoint(), "1.0", LockfileRecord.newInstanceId());
  }

  private LockfileRecord namingExactly(long pid) {
    return naming(pid, ProcessIdentity.startTime(pid).orElseThrow());
  }

  @Test
  void initAndTheLauncherItselfAreNeverADaemonWhateverARecordSays() {
    // Checked on the pid alone: no record here names pid 1 or this JVM.
    assertTrue(DaemonVerification.neverADaemon(1).orElseThrow().contains("never a daemon"));
    assertTrue(DaemonVerification.neverADaemon(0).isPresent());
    assertTrue(DaemonVerification.neverADaemon(ProcessIdentity.currentPid()).orElseThrow().contains("this launcher"));
    assertTrue(DaemonVerification.neverADaemon(ProcessIdentity.currentPid() + 1).isEmpty());
  }

  @Test
  @RequiresCapability(Capability.SLEEP)
  void aLiveProcessThatDoesNotHoldTheServicesEndpointsIsRefused() throws Exception {
    bystander = new ProcessBuilder(Capability.SLEEP.executable().toString(), "60").start();
    DaemonVerification.Verdict v = DaemonVerification.verify(paths, namingExactly(bystander.pid()));
    assertTrue(((DaemonVerification.Refused) v).why().contains("does not hold"), v.toString());
  }

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.SLEEP})
  void aProcessOfAnotherUserIsRefused() throws Exception {
    bystander = new ProcessBuilder(Capability.RUNUSER.executable().toString(), "-u", "nobody", "--",
        Capability.SLEEP.executable().toString(), "60").start();
    // runuser forks: the sleep is its child, running as nobody.
    Await.until(Fixtures.PATIENT, () -> bystander.descendants().findAny().isPresent(), () -> "no sleep started");
    long sleep = bystander.descendants().findFirst().orElseThrow().pid();
    DaemonVerification.Verdict v = DaemonVerification.verify(paths, namingExactly(sleep));
    assertTrue(((DaemonVerification.Refused) v).why().contains("uid"), v.toString());
  }

  @Test
  @RequiresCapability(Capability.SLEEP)
  void aDeadPidOrAnotherStartTimeIsGone() throws Exception {
    Process p = new ProcessBuilder("true").start();
    long pid = p.pid();
    String started = ProcessIdentity.startTime(pid).orElse("ticks:1");
    p.onExit().get(10, TimeUnit.SECONDS);
    assertInstanceOf(DaemonVerification.Gone.class, DaemonVerification.verify(paths, naming(pid, started)));
    bystander = new ProcessBuilder(Capability.SLEEP.executable().toString(), "60").start();
    assertInstanceOf(DaemonVerification.Gone.class, DaemonVerification.verify(paths, naming(bystander.pid(), "ticks:1")),
        "a live pid with another start time is a reused pid");
  }

  @Test
  void theServicesOwnDaemonIsVerifiedAndLeadsItsGroup() throws Exception {
    ServiceDefinition def = Fixtures.daemon(tmp.resolve("rt"), "svc", "good").build();
    DaemonInfo info = Broker.create().ensureRunning(def);
    LockfileRecord r = Lockfiles.read(paths.lockfile()).orElseThrow();
    DaemonVerification.Verified v = assertInstanceOf(DaemonVerification.Verified.class,
        DaemonVerification.verify(paths, r));
    assertEquals(info.pid(), v.pid());
    assertTrue(v.leadsOwnGroup(), "a spawned daemon leads its own group after setsid");
  }

  @Test
  void theLaunchersOwnProcessGroupIsNeverSignalled() {
    long ownGroup = ProcessIdentity.stat(ProcessIdentity.currentPid()).processGroup();
    // Signal 0 only tests for existence, so even a missing guard would harm nothing.
    assertThrows(IllegalArgumentException.class, () -> ProcessTree.signalGroup(ownGroup, "0"));
    assertThrows(IllegalArgumentException.class, () -> ProcessTree.signalGroup(1, "0"));
  }
}
