package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/** Definitions reject bad input with actionable messages; metrics are recorded only when asked. */
class ServiceDefinitionTest {

  @TempDir Path tmp;

  @AfterEach
  void noProcessLeft() throws Exception {
    Fixtures.killMarked(tmp.resolve("rt"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "Cache", "1cache", "../etc", "a/b", "a.b", "a\u0000b", "a b", "-x",
      "abcdefghijklmnopqrstuvwxyzabcdefg"})
  void invalidNamesAreRefusedWithTheRule(String name) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ServiceDefinition.builder(name));
    assertTrue(e.getMessage().contains(ServiceDefinition.NAME_RULE), e.getMessage());
    assertTrue(e.getMessage().contains("invalid service name"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"a", "cache", "my-cache-2", "abcdefghijklmnopqrstuvwxyzabcdef"})
  void validNamesAreAccepted(String name) {
    assertEquals(name, ServiceDefinition.builder(name).command("true").build().name());
  }

  @Test
  void theDefaultCompatibilityKeyIsTheRealJavaHomeTheJvmOptionsAndTheClassPath() throws Exception {
    ServiceDefinition d = ServiceDefinition.builder("x").javaMain("a.B").javaOptions("-Xmx64m", "-Da=b").build();
    assertEquals(Path.of(System.getProperty("java.home")).toRealPath().toString(), d.compatibilityKey().get("java.home"));
    assertEquals("-Xmx64m -Da=b", d.compatibilityKey().get("jvm.options"));
    String cp = d.compatibilityKey().get("class.path");
    for (String entry : cp.split(java.io.File.pathSeparator)) {
      assertTrue(Path.of(entry).isAbsolute(), "class path entries are absolute: " + cp);
    }
    assertEquals(java.util.Map.of("command", "daemon --flag"),
        ServiceDefinition.builder("x").command("daemon", "--flag").build().compatibilityKey());
  }

  @Test
  void authorsAndEnvironmentKeysAreAddedAndBadOnesRefused() {
    ServiceDefinition d = ServiceDefinition.builder("x").command("true").defaultCompatibilityKey(false)
        .compatibilityKey("index-format", "7").compatibilityFromEnvironment("FASTBIND_SURELY_UNSET_VARIABLE").build();
    assertEquals(java.util.Map.of("index-format", "7", "env.fastbind_surely_unset_variable", "(unset)"),
        d.compatibilityKey());
    ServiceDefinition.Builder b = ServiceDefinition.builder("x").command("true");
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> b.compatibilityKey("Bad Name", "1"));
    assertTrue(bad.getMessage().contains("Bad Name"), bad.getMessage());
    assertThrows(IllegalArgumentException.class, () -> b.compatibilityKey("java.home", "/elsewhere"));
    assertThrows(IllegalArgumentException.class, () -> b.maxSideBySide(0));
  }

  @Test
  void exactlyOneWayToStartIsRequired() {
    assertThrows(IllegalStateException.class, () -> ServiceDefinition.builder("x").build());
    assertThrows(IllegalStateException.class,
        () -> ServiceDefinition.builder("x").command("true").javaMain("a.B").build());
  }

  @Test
  void badSettingsAreRefused() {
    ServiceDefinition.Builder b = ServiceDefinition.builder("x");
    assertThrows(IllegalArgumentException.class, () -> b.runtimeDirectory(Path.of("relative")));
    assertThrows(IllegalArgumentException.class, () -> b.probeBudget(Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> b.environment("FASTBIND_ENDPOINT", "x"));
    assertThrows(IllegalArgumentException.class, () -> b.crashLoopLimit(0, Duration.ofSeconds(1)));
    assertThrows(IllegalArgumentException.class, () -> b.command(List.of()));
    assertThrows(IllegalArgumentException.class, () -> b.spawnLockPatience(Duration.ofMillis(-1)));
    assertThrows(IllegalArgumentException.class, () -> b.spawnLockPatience(Duration.ofHours(2)));
    assertEquals(Duration.ZERO, b.javaMain("x.Main").spawnLockPatience(Duration.ZERO).build().spawnLockPatience());
  }

  @Test
  void definitionsAreImmutableCopies() {
    java.util.ArrayList<String> cmd = new java.util.ArrayList<>(List.of("daemon", "--flag"));
    ServiceDefinition d = ServiceDefinition.builder("x").command(cmd).build();
    cmd.add("--late");
    assertEquals(List.of("daemon", "--flag"), d.command());
    assertThrows(UnsupportedOperationException.class, () -> d.command().add("y"));
    assertEquals(ServiceDefinition.DEFAULT_PROBE_BUDGET, d.probeBudget());
  }

  @Test
  void aSocketPathTooLongIsReportedBeforeAnythingStarts() throws Exception {
    Path deep = tmp.resolve("d".repeat(100));
    ServiceDefinition d = ServiceDefinition.builder("svc").command("true").runtimeDirectory(deep).build();
    java.io.IOException e = assertThrows(java.io.IOException.class, () -> Broker.create().ensureRunning(d));
    assertTrue(e.getMessage().contains("107"), e.getMessage());
  }

  @Test
  void metricsAreRecordedWhenARegistryIsGiven() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    Broker broker = Broker.create(registry);
    ServiceDefinition d = Fixtures.daemon(tmp.resolve("rt"), "metered", "good").build();
    broker.ensureRunning(d);
    broker.ensureRunning(d);
    assertEquals(1, registry.get("fastbind.broker.ensure").tag("outcome", "spawned").timer().count());
    assertEquals(1, registry.get("fastbind.broker.ensure").tag("outcome", "reused").timer().count());
    assertEquals(1, registry.get("fastbind.broker.spawn").tag("mode", "java").timer().count());
    assertEquals(1, registry.get("fastbind.broker.readiness").tag("outcome", "ready").timer().count());
    assertTrue(registry.get("fastbind.broker.probe").timers().size() >= 1);
  }
}
