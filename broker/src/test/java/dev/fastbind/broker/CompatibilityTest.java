package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.wire.Compatibility;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.testsupport.Await;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Compatibility keys with real daemons: side by side, replacement, author keys, the bound. */
class CompatibilityTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() {
    Fixtures.killMarked(dir());
  }

  private static String[] jvm(String... extra) {
    String[] all = Arrays.copyOf(Fixtures.LIGHT_JVM, Fixtures.LIGHT_JVM.length + extra.length);
    System.arraycopy(extra, 0, all, Fixtures.LIGHT_JVM.length, extra.length);
    return all;
  }

  private static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  @Test
  void otherJvmOptionsGetADaemonBesideTheFirstAndTheSpawnSaysWhatDiffers() throws Exception {
    ServiceDefinition small = Fixtures.daemon(dir(), "svc", "good").javaOptions(jvm("-Dflavour=small")).build();
    ServiceDefinition large = Fixtures.daemon(dir(), "svc", "good").javaOptions(jvm("-Dflavour=large")).build();
    DaemonInfo first = broker.ensureRunning(small);
    DaemonInfo second = broker.ensureRunning(large);

    assertNotEquals(first.pid(), second.pid(), "a second daemon beside the first");
    assertEquals(Optional.of(SpawnReason.COMPATIBILITY_MISMATCH), second.spawnReason());
    assertTrue(second.spawnDetail().contains("beside pid " + first.pid()), second.spawnDetail());
    assertTrue(second.spawnDetail().contains("-Dflavour=small") && second.spawnDetail().contains("-Dflavour=large")
        && second.spawnDetail().contains("\u2192"), "the diff names both sides: " + second.spawnDetail());
    String id = Compatibility.id(Compatibility.canonical(large.compatibilityKey()));
    assertEquals(dir().resolve("svc~" + id + ".sock"), second.endpoint().path().orElseThrow());
    assertEquals(second.pid(), EnsureRunningTest.askPid(second));

    assertEquals(first.pid(), broker.ensureRunning(small).pid(), "each launcher keeps its own warm daemon");
    assertEquals(second.pid(), broker.ensureRunning(large).pid());
    assertFalse(broker.ensureRunning(large).spawned());
    assertTrue(alive(first.pid()) && alive(second.pid()));

    LockfileRecord r = Lockfiles.read(dir().resolve("svc~" + id + ".lock")).orElseThrow();
    assertEquals(Compatibility.canonical(large.compatibilityKey()), r.compatibility(), "recorded in the lockfile");
    assertEquals(r.compatibility(), ControlClient.hello(r.controlEndpoint(), Fixtures.PATIENT).compatibility(),
        "and answered in HELLO");
  }

  @Test
  void withTheReplacePolicyTheDaemonIsReplacedAndTheSpawnSaysWhatDiffered() throws Exception {
    DaemonInfo first = broker.ensureRunning(Fixtures.daemon(dir(), "svc", "good").build());
    DaemonInfo second = broker.ensureRunning(Fixtures.daemon(dir(), "svc", "good")
        .compatibilityKey("index-format", "8").compatibilityPolicy(CompatibilityPolicy.REPLACE).build());
    assertEquals(Optional.of(SpawnReason.COMPATIBILITY_MISMATCH), second.spawnReason());
    assertTrue(second.spawnDetail().contains("index-format (none) \u2192 8"), second.spawnDetail());
    assertEquals(dir().resolve("svc.sock"), second.endpoint().path().orElseThrow(), "in the first daemon's place");
    Await.until(Duration.ofSeconds(10), () -> !alive(first.pid()), () -> "the replaced daemon still runs");
  }

  @Test
  void anAuthorsKeyKeepsDaemonsApartAndTheFirstFreeSlotIsReusedByItsKeyOnly() throws Exception {
    ServiceDefinition seven = Fixtures.daemon(dir(), "svc", "good").compatibilityKey("index-format", "7").build();
    ServiceDefinition eight = Fixtures.daemon(dir(), "svc", "good").compatibilityKey("index-format", "8").build();
    DaemonInfo a = broker.ensureRunning(seven);
    DaemonInfo b = broker.ensureRunning(eight);
    assertNotEquals(a.pid(), b.pid());
    assertTrue(b.spawnDetail().contains("index-format 7 \u2192 8"), b.spawnDetail());
    assertEquals(StopResult.SHUT_DOWN, broker.stop(seven));
    // The first slot is free now; the key-8 daemon beside it is still reused, not duplicated.
    DaemonInfo again = broker.ensureRunning(eight);
    assertFalse(again.spawned(), "reused: " + again);
    assertEquals(b.pid(), again.pid());
  }

  @Test
  void startingOneMoreThanTheBoundStopsTheDaemonIdleLongest() throws Exception {
    DaemonInfo one = broker.ensureRunning(Fixtures.daemon(dir(), "svc", "good").compatibilityKey("k", "1")
        .maxSideBySide(2).build());
    DaemonInfo two = broker.ensureRunning(Fixtures.daemon(dir(), "svc", "good").compatibilityKey("k", "2")
        .maxSideBySide(2).build());
    DaemonInfo three = broker.ensureRunning(Fixtures.daemon(dir(), "svc", "good").compatibilityKey("k", "3")
        .maxSideBySide(2).build());
    assertTrue(three.spawnDetail().contains("stopped pid " + one.pid()), three.spawnDetail());
    Await.until(Duration.ofSeconds(10), () -> !alive(one.pid()), () -> "the idlest daemon was not stopped");
    assertTrue(alive(two.pid()) && alive(three.pid()), "two daemons remain within the bound");
  }
}
