package dev.fastbind.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import dev.fastbind.conformance.backends.Broken;
import dev.fastbind.conformance.backends.BrokenDaemons;
import dev.fastbind.conformance.backends.GoodBackend;
import dev.fastbind.conformance.backends.PathOnlyBackend;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.MethodSelector;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/**
 * The kit tests itself: a good backend passes every rule, and each deliberately broken backend fails
 * exactly the rule written for it (among the static and in-process rules, which are cheap enough to
 * run for every backend), with the expected message.
 */
class KitSelfTest {

  static final class GoodKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(GoodBackend.class, GoodBackend.Main.class, "good", "1.0");
    }
  }

  /** A kit subclass for a backend whose daemon main is never started by the rules run against it. */
  abstract static class InProcessKit extends BrokeredBackendVerification {
    abstract Class<? extends dev.fastbind.backend.BrokeredBackend> type();

    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(type(), GoodBackend.Main.class, "good", "1.0");
    }
  }

  static final class ReadsFileKit extends InProcessKit {
    @Override Class<Broken.ReadsFileInBind> type() { return Broken.ReadsFileInBind.class; }
  }

  static final class SleepsKit extends InProcessKit {
    @Override Class<Broken.SleepsInBind> type() { return Broken.SleepsInBind.class; }
  }

  static final class ThreadKit extends InProcessKit {
    @Override Class<Broken.StartsThreadInBind> type() { return Broken.StartsThreadInBind.class; }
  }

  static final class ConnectsKit extends InProcessKit {
    @Override Class<Broken.ConnectsInBind> type() { return Broken.ConnectsInBind.class; }
  }

  static final class StaticStateKit extends InProcessKit {
    @Override Class<Broken.TouchesStaticStateInBind> type() { return Broken.TouchesStaticStateInBind.class; }
  }

  static final class FieldKit extends InProcessKit {
    @Override Class<Broken.KeepsInstanceField> type() { return Broken.KeepsInstanceField.class; }
  }

  static final class ConstructorKit extends InProcessKit {
    @Override Class<Broken.NontrivialConstructor> type() { return Broken.NontrivialConstructor.class; }
  }

  static final class SlowBindKit extends InProcessKit {
    @Override Class<Broken.SlowBind> type() { return Broken.SlowBind.class; }
  }

  static final class ElsewhereKit extends InProcessKit {
    @Override Class<Broken.BindsElsewhere> type() { return Broken.BindsElsewhere.class; }
  }

  static final class ReplacesKit extends InProcessKit {
    @Override Class<BrokenDaemons.ReplacesLiveSocket> type() { return BrokenDaemons.ReplacesLiveSocket.class; }
  }

  static final class WrapsKit extends InProcessKit {
    @Override Class<Broken.WrapsFailures> type() { return Broken.WrapsFailures.class; }
  }

  static final class NoReclaimKit extends InProcessKit {
    @Override Class<Broken.NoReclaim> type() { return Broken.NoReclaim.class; }
  }

  static final class PathOnlyKit extends InProcessKit {
    @Override Class<PathOnlyBackend> type() { return PathOnlyBackend.class; }
  }

  static final class LeakyKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(Broken.LeaksOnFailedBind.class, Broken.LeaksOnFailedBind.Main.class, "leaky", "1.0");
    }
  }

  static final class SlowMainKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(GoodBackend.class, BrokenDaemons.SlowMain.class, "slow", "1.0");
    }
  }

  static final class VersionKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(GoodBackend.class, BrokenDaemons.ForgetsVersion.class, "unversioned", "1.0");
    }
  }

  static final class ThrowsKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(BrokenDaemons.ServeThrows.class, BrokenDaemons.ServeThrows.Main.class, "thrower", "1.0");
    }
  }

  static final class LitterKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(BrokenDaemons.LeavesFileOnShutdown.class,
          BrokenDaemons.LeavesFileOnShutdown.Main.class, "litter", "1.0");
    }
  }

  static final class PidFileKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(GoodBackend.class, BrokenDaemons.StalePidFile.class, "pidfile", "1.0");
    }
  }

  static final class TidyKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(GoodBackend.class, BrokenDaemons.ClearsStaleLocks.class, "tidy", "1.0");
    }
  }

  static final class PerFileKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(BrokenDaemons.OpensFilePerRequest.class, BrokenDaemons.OpensFilePerRequest.Main.class,
          "perfile", "1.0");
    }
  }

  private static final Predicate<String> CHEAP = n -> n.matches("required_spec(1|20[1-5]).*");

  @Test
  void goodBackendPassesEveryRule() {
    Map<String, String> failures = run(GoodKit.class, n -> true);
    assertEquals(Map.of(), failures);
  }

  @Test
  void aBackendThatDeclinesAbstractEndpointsCleanlyIsSkippedOnOptionalRule207WithItsReason() {
    List<Event> finished = execute(PathOnlyKit.class, n -> n.startsWith("optional_spec207"));
    assertEquals(1, finished.size());
    TestExecutionResult result = finished.get(0).getRequiredPayload(TestExecutionResult.class);
    assertEquals(TestExecutionResult.Status.ABORTED, result.getStatus(), () -> String.valueOf(result));
    String reason = result.getThrowable().map(Throwable::getMessage).orElse("");
    assertTrue(reason.contains("PathOnlyBackend declines abstract endpoints")
        && reason.contains("socket files only"), reason);
  }

  @Test
  void aBindThatAssumesAFilePathFailsOptionalRule207() {
    assertFailures(NoReclaimKit.class, n -> n.startsWith("optional_spec207"), List.of("207"), "207",
        "NoSuchElementException", "instead of binding it or declining with BindException.InvalidEndpoint");
  }

  @Test
  void fileIoInALambdaInAPrivateHelperFailsRule101() {
    assertOnlyFailure(ReadsFileKit.class, "101", "Files.exists(Path, LinkOption[])", "ReadsFileInBind.bind -> ReadsFileInBind.configured");
  }

  @Test
  void sleepingInBindFailsRule102() {
    assertOnlyFailure(SleepsKit.class, "102", "TimeUnit.sleep(long)");
  }

  @Test
  void startingAThreadInBindFailsRule103() {
    assertOnlyFailure(ThreadKit.class, "103", "new Thread(Runnable)", "Thread.start()");
  }

  @Test
  void resolvingAHostInBindFailsRule104() {
    assertOnlyFailure(ConnectsKit.class, "104", "InetAddress.getByName(String)");
  }

  @Test
  void countingBindsInAStaticFieldFailsRule105() {
    assertOnlyFailure(StaticStateKit.class, "105", "mutable static field", "TouchesStaticStateInBind.binds");
  }

  @Test
  void anInstanceFieldFailsRule106() {
    assertOnlyFailure(FieldKit.class, "106", "KeepsInstanceField.warmed");
  }

  @Test
  void aConstructorThatDoesWorkFailsRule107() {
    assertOnlyFailure(ConstructorKit.class, "107", "System.getenv(java.lang.String)");
  }

  @Test
  void aSlowBindFailsRule201() {
    assertOnlyFailure(SlowBindKit.class, "201", "the budget is 50 ms");
  }

  @Test
  void bindingAnotherPathFailsRule202() {
    assertFailures(ElsewhereKit.class, CHEAP, List.of("202", "203", "204", "205"), "202", "returned a listener on");
  }

  @Test
  void replacingALiveSocketFailsRule203() {
    assertFailures(ReplacesKit.class, CHEAP, List.of("203", "204"), "203", "instead of throwing BindException.AlreadyBound");
  }

  @Test
  void misreportingAnInvalidEndpointFailsRule204() {
    assertOnlyFailure(WrapsKit.class, "204", "threw Io instead of InvalidEndpoint");
  }

  @Test
  void notReclaimingAStaleSocketFailsRule205() {
    assertFailures(NoReclaimKit.class, CHEAP, List.of("204", "205"), "205", "did not reclaim the stale socket file");
  }

  @Test
  void leakingASocketOnAFailedBindFailsRule206() {
    assertFailures(LeakyKit.class, CHEAP.or(n -> n.startsWith("required_spec206")), List.of("206"), "206",
        "left files behind", "leaky.sock.admin");
  }

  @Test
  void workInMainBeforeRunFailsRule301() {
    assertFailures(SlowMainKit.class, n -> n.startsWith("required_spec301"), List.of("301"), "301",
        "not ready within the 2000 ms readiness budget");
  }

  @Test
  void aMissingVersionFailsRule302() {
    assertFailures(VersionKit.class, n -> n.startsWith("required_spec302"), List.of("302"), "302",
        "version 0 (declared 1.0)");
  }

  @Test
  void serveThatThrowsFailsRule303() {
    assertFailures(ThrowsKit.class, n -> n.startsWith("required_spec303"), List.of("303"), "303",
        "serve must never return");
  }

  @Test
  void aSocketLeftOnShutdownFailsRule304() {
    assertFailures(LitterKit.class, n -> n.startsWith("required_spec304"), List.of("304"), "304",
        "stop left files behind", "litter.status");
  }

  @Test
  void aPidFileLeftByKill9FailsRule305() {
    assertFailures(PidFileKit.class, n -> n.startsWith("required_spec305"), List.of("305"), "305",
        "could not start the daemon again after kill -9", "besides the broker's: [pidfile.pid]",
        "another instance is running");
  }

  @Test
  void deletingTheBrokersSpawnLockFailsRule306() {
    assertFailures(TidyKit.class, n -> n.startsWith("required_spec306"), List.of("306"), "306",
        "[tidy.spawn-lock]", "are gone once the daemon runs");
  }

  @Test
  void aRequestThatOpensAFileAndLetsEmfileEscapeServeFailsRule307() {
    assertFailures(PerFileKit.class, n -> n.startsWith("required_spec307"), List.of("307"), "307",
        "the daemon exited while", "Too many open files");
  }

  private static void assertOnlyFailure(Class<? extends BrokeredBackendVerification> kit, String rule,
      String... fragments) {
    assertFailures(kit, CHEAP, List.of(rule), rule, fragments);
  }

  private static void assertFailures(Class<? extends BrokeredBackendVerification> kit, Predicate<String> which,
      List<String> expectedRules, String rule, String... fragments) {
    Map<String, String> failures = run(kit, which);
    TreeSet<String> failedRules = new TreeSet<>();
    failures.keySet().forEach(n -> failedRules.add(ruleOf(n)));
    assertEquals(new TreeSet<>(expectedRules), failedRules, () -> "failures: " + failures);
    String message = failures.entrySet().stream().filter(e -> ruleOf(e.getKey()).equals(rule))
        .findFirst().orElseThrow().getValue();
    for (String fragment : fragments) {
      assertTrue(message.contains(fragment), () -> "rule " + rule + " message lacks '" + fragment + "': " + message);
    }
  }

  /** The rule number of a method name: {@code required_spec101_…} and {@code optional_spec207_…} alike. */
  private static String ruleOf(String methodName) {
    int at = methodName.indexOf("_spec") + "_spec".length();
    return methodName.substring(at, at + 3);
  }

  /** Runs the selected rules of {@code kit}; returns failed method name to failure message. */
  private static Map<String, String> run(Class<? extends BrokeredBackendVerification> kit, Predicate<String> which) {
    List<Event> finished = execute(kit, which);
    Map<String, String> failures = new TreeMap<>();
    for (Event e : finished) {
      TestExecutionResult result = e.getRequiredPayload(TestExecutionResult.class);
      if (result.getStatus() != TestExecutionResult.Status.SUCCESSFUL) {
        String name = e.getTestDescriptor().getSource()
            .map(s -> ((MethodSource) s).getMethodName()).orElse("?");
        failures.put(name, result.getThrowable().map(String::valueOf).orElse(result.getStatus().toString()));
      }
    }
    return failures;
  }

  /** Runs the selected rules ({@code required_} and {@code optional_}) of {@code kit}; returns their finish events. */
  private static List<Event> execute(Class<? extends BrokeredBackendVerification> kit, Predicate<String> which) {
    MethodSelector[] selectors = Arrays.stream(BrokeredBackendVerification.class.getDeclaredMethods())
        .map(Method::getName)
        .filter(n -> (n.startsWith("required_") || n.startsWith("optional_")) && which.test(n))
        .sorted()
        .map(n -> selectMethod(kit, n))
        .toArray(MethodSelector[]::new);
    List<Event> finished = EngineTestKit.engine("junit-jupiter").selectors(selectors).execute()
        .testEvents().finished().list();
    assertEquals(selectors.length, finished.size(), "every selected rule ran");
    return finished;
  }
}
