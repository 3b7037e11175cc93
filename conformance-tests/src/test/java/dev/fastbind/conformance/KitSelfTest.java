package dev.fastbind.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import dev.fastbind.conformance.backends.Broken;
import dev.fastbind.conformance.backends.BrokenDaemons;
import dev.fastbind.conformance.backends.BrokenHandoffs;
import dev.fastbind.conformance.backends.BrokenLifetimes;
import dev.fastbind.conformance.backends.GoodBackend;
import dev.fastbind.conformance.backends.PathOnlyBackend;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.MethodSelector;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/**
 * The kit tests itself: a good backend passes every rule, and each deliberately broken backend fails
 * exactly the rule written for it (among the static and in-process rules, which are cheap enough to
 * run for every backend), with the expected message. The proofs are the table {@link #PROOFS};
 * {@link RuleTieTest} ties it, the rules and {@code SPEC.md} together.
 */
class KitSelfTest {

  static final class GoodKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(GoodBackend.class, GoodBackend.Main.class, "good", "1.0")
          .withIdleTimeout(IDLE, IDLE_OPTION);
    }
  }

  /** The idle timeout the self-tests' daemons run with for rule 501, and the option that sets it. */
  static final Duration IDLE = Duration.ofSeconds(1);
  static final String IDLE_OPTION = "-D" + GoodBackend.IDLE_PROPERTY + "=" + IDLE.toMillis();

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

  static final class RebindKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(BrokenHandoffs.ClosesAndRebinds.class, BrokenHandoffs.ClosesAndRebinds.Main.class,
          "rebinder", "1.0");
    }
  }

  static final class InetdCheckKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(GoodBackend.class, BrokenHandoffs.AsksForInheritedChannelFirst.class, "inetd-check",
          "1.0");
    }
  }

  static final class FallbackKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(GoodBackend.class, BrokenHandoffs.FallbackListener.class, "fallback", "1.0");
    }
  }

  static final class HaltKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(BrokenHandoffs.HaltsWhenListenerCloses.class,
          BrokenHandoffs.HaltsWhenListenerCloses.Main.class, "halter", "1.0");
    }
  }

  static final class UnreadyKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(BrokenLifetimes.ForgetsReady.class, BrokenLifetimes.ForgetsReady.Main.class, "unready",
          "1.0");
    }

    @Override
    protected VerificationBudgets budgets() {
      return VerificationBudgets.defaults().withWarmup(Duration.ofSeconds(1)); // the good one is ready at once
    }
  }

  static final class NeverBusyKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(BrokenLifetimes.NeverBusy.class, BrokenLifetimes.NeverBusy.Main.class, "never-busy",
          "1.0").withIdleTimeout(IDLE, IDLE_OPTION);
    }
  }

  static final class LeaksBusyKit extends BrokeredBackendVerification {
    @Override
    protected BackendUnderTest backend() {
      return BackendUnderTest.of(BrokenLifetimes.LeaksBusy.class, BrokenLifetimes.LeaksBusy.Main.class, "leaks-busy",
          "1.0").withIdleTimeout(IDLE, IDLE_OPTION);
    }

    @Override
    protected VerificationBudgets budgets() {
      return VerificationBudgets.defaults().withStopGrace(Duration.ofSeconds(1)); // it never exits: wait less
    }
  }

  private static final Predicate<String> CHEAP = n -> n.matches("required_spec(1|20[1-5]).*");

  /**
   * A broken backend's proof that rules can fail: run the rules {@code which} selects against
   * {@code kit}; exactly the rules {@code failing} must fail, {@code rule}'s message with every one of
   * {@code fragments}. {@link RuleTieTest} checks that every {@code required_} and {@code optional_}
   * rule is the {@code rule} of at least one proof.
   */
  record Proof(String name, Class<? extends BrokeredBackendVerification> kit, Predicate<String> which,
      List<String> failing, String rule, List<String> fragments) {
    Proof {
      if (!failing.contains(rule)) {
        throw new IllegalArgumentException(name + ": rule " + rule + " is not among the failing rules " + failing);
      }
    }
  }

  /** Among the cheap rules (1xx, 201-205), {@code kit} fails {@code rule} and nothing else. */
  private static Proof only(String name, Class<? extends BrokeredBackendVerification> kit, String rule,
      String... fragments) {
    return proof(name, kit, CHEAP, List.of(rule), rule, fragments);
  }

  /** Running the rules {@code which} selects, {@code kit} fails exactly {@code failing}. */
  private static Proof proof(String name, Class<? extends BrokeredBackendVerification> kit, Predicate<String> which,
      List<String> failing, String rule, String... fragments) {
    return new Proof(name, kit, which, failing, rule, List.of(fragments));
  }

  /** Only the rule {@code rule} (one daemon JVM per spawn is too dear to run them all). */
  private static Predicate<String> rule(String prefix) {
    return n -> n.startsWith(prefix);
  }

  /** One proof per rule that can fail, each against its deliberately broken backend. */
  static final List<Proof> PROOFS = List.of(
      proof("aBindThatAssumesAFilePathFailsOptionalRule207", NoReclaimKit.class, rule("optional_spec207"),
          List.of("207"), "207", "NoSuchElementException",
          "instead of binding it or declining with BindException.InvalidEndpoint"),
      only("fileIoInALambdaInAPrivateHelperFailsRule101", ReadsFileKit.class, "101",
          "Files.exists(Path, LinkOption[])", "ReadsFileInBind.bind -> ReadsFileInBind.configured"),
      only("sleepingInBindFailsRule102", SleepsKit.class, "102", "TimeUnit.sleep(long)"),
      only("startingAThreadInBindFailsRule103", ThreadKit.class, "103", "new Thread(Runnable)", "Thread.start()"),
      only("resolvingAHostInBindFailsRule104", ConnectsKit.class, "104", "InetAddress.getByName(String)"),
      only("countingBindsInAStaticFieldFailsRule105", StaticStateKit.class, "105", "mutable static field",
          "TouchesStaticStateInBind.binds"),
      only("anInstanceFieldFailsRule106", FieldKit.class, "106", "KeepsInstanceField.warmed"),
      only("aConstructorThatDoesWorkFailsRule107", ConstructorKit.class, "107", "System.getenv(java.lang.String)"),
      only("aSlowBindFailsRule201", SlowBindKit.class, "201", "the budget is 50 ms"),
      proof("bindingAnotherPathFailsRule202", ElsewhereKit.class, CHEAP, List.of("202", "203", "204", "205"), "202",
          "returned a listener on"),
      proof("replacingALiveSocketFailsRule203", ReplacesKit.class, CHEAP, List.of("203", "204"), "203",
          "instead of throwing BindException.AlreadyBound"),
      only("misreportingAnInvalidEndpointFailsRule204", WrapsKit.class, "204", "threw Io instead of InvalidEndpoint"),
      proof("notReclaimingAStaleSocketFailsRule205", NoReclaimKit.class, CHEAP, List.of("204", "205"), "205",
          "did not reclaim the stale socket file"),
      proof("leakingASocketOnAFailedBindFailsRule206", LeakyKit.class, CHEAP.or(rule("required_spec206")),
          List.of("206"), "206", "left files behind", "leaky.sock.admin"),
      proof("workInMainBeforeRunFailsRule301", SlowMainKit.class, rule("required_spec301"), List.of("301"), "301",
          "not ready within the 2000 ms readiness budget"),
      proof("aMissingVersionFailsRule302", VersionKit.class, rule("required_spec302"), List.of("302"), "302",
          "version 0 (declared 1.0)"),
      proof("serveThatThrowsFailsRule303", ThrowsKit.class, rule("required_spec303"), List.of("303"), "303",
          "serve must never return"),
      proof("aSocketLeftOnShutdownFailsRule304", LitterKit.class, rule("required_spec304"), List.of("304"), "304",
          "stop left files behind", "litter.status"),
      proof("aPidFileLeftByKill9FailsRule305", PidFileKit.class, rule("required_spec305"), List.of("305"), "305",
          "could not start the daemon again after kill -9", "besides the broker's: [pidfile.pid]",
          "another instance is running"),
      proof("deletingTheBrokersSpawnLockFailsRule306", TidyKit.class, rule("required_spec306"), List.of("306"), "306",
          "[tidy.spawn-lock]", "are gone once the daemon runs"),
      proof("aRequestThatOpensAFileAndLetsEmfileEscapeServeFailsRule307", PerFileKit.class,
          rule("required_spec307"), List.of("307"), "307", "the daemon exited while", "Too many open files"),
      proof("closingTheHandedOffListenerAndBindingAgainFailsRule401", RebindKit.class, rule("required_spec401"),
          List.of("401"), "401", "connected to the socket the broker bound", "was reset",
          "does not serve the listener it was handed"),
      proof("aMainThatAsksForTheInheritedChannelBeforeDaemonRunFailsRule401", InetdCheckKit.class,
          rule("required_spec401"), List.of("401"), "401", "did not start with the listener hand-off",
          "descriptor 0 did not become the handed-off listener (the JDK saw null); not binding a socket of its own"),
      proof("aMainThatBindsItsOwnSocketWhenTheHandOffFailsFailsRule402", FallbackKit.class,
          rule("required_spec402"), List.of("402"), "402", "bound a socket of its own at unix:", "fallback.sock"),
      proof("anAcceptLoopThatHaltsWhenItsListenerClosesFailsRule403", HaltKit.class, rule("required_spec403"),
          List.of("403"), "403", "cut off a request in flight", "the daemon had exited by then"),
      proof("aServeThatNeverCallsReadyFailsRule308", UnreadyKit.class, rule("required_spec308"), List.of("308"),
          "308", "did not report READY within the 1000 ms warm-up budget", "HELLO still says WARMING 100% (index loaded)",
          "serve must call context.ready()"),
      proof("aServerStackThatTakesNoBusyHandleExitsUnderAnOpenConnectionAndFailsOptionalRule501", NeverBusyKit.class,
          rule("optional_spec501"), List.of("501"), "501", "into a connection the kit held open (idle timeout 1000 ms)",
          "Take a context.busy() handle for each connection", "idle for"),
      proof("aBusyHandleLeakedWhenAClientHangsUpKeepsTheDaemonRunningAndFailsOptionalRule501", LeaksBusyKit.class,
          rule("optional_spec501"), List.of("501"), "501", "the daemon still runs", "after the kit closed its connection",
          "something holds it busy"));

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
  void aBackendThatDeclaresNoIdleTimeoutIsSkippedOnOptionalRule501WithTheReason() {
    List<Event> finished = execute(PathOnlyKit.class, n -> n.startsWith("optional_spec501"));
    assertEquals(1, finished.size());
    TestExecutionResult result = finished.get(0).getRequiredPayload(TestExecutionResult.class);
    assertEquals(TestExecutionResult.Status.ABORTED, result.getStatus(), () -> String.valueOf(result));
    String reason = result.getThrowable().map(Throwable::getMessage).orElse("");
    assertTrue(reason.contains("PathOnlyBackend declares no idle timeout")
        && reason.contains("BackendUnderTest.withIdleTimeout"), reason);
  }

  @Test
  void everyUntestedRuleIsReportedAsSkippedWithWhatCoversIt() {
    List<Event> finished = executeAll(GoodKit.class, n -> n.startsWith("untested_"));
    assertFalse(finished.isEmpty(), "no untested_ rules ran");
    for (Event e : finished) {
      TestExecutionResult result = e.getRequiredPayload(TestExecutionResult.class);
      String name = methodName(e);
      assertEquals(TestExecutionResult.Status.ABORTED, result.getStatus(), () -> name + ": " + result);
      String reason = result.getThrowable().map(Throwable::getMessage).orElse("");
      assertTrue(reason.startsWith("not verified by the kit: ") && reason.matches("(?s).*rules? \\d{3}.*"),
          () -> name + " gives no reason naming the rules that cover it: " + reason);
    }
  }

  @TestFactory
  Stream<DynamicTest> eachBrokenBackendFailsExactlyTheRulesWrittenForIt() {
    return PROOFS.stream().map(p -> DynamicTest.dynamicTest(p.name(), () -> assertFailures(p)));
  }

  private static void assertFailures(Proof p) {
    Map<String, String> failures = run(p.kit(), p.which());
    TreeSet<String> failedRules = new TreeSet<>();
    failures.keySet().forEach(n -> failedRules.add(ruleOf(n)));
    assertEquals(new TreeSet<>(p.failing()), failedRules, () -> "failures: " + failures);
    String message = failures.entrySet().stream().filter(e -> ruleOf(e.getKey()).equals(p.rule()))
        .findFirst().orElseThrow().getValue();
    for (String fragment : p.fragments()) {
      assertTrue(message.contains(fragment), () -> "rule " + p.rule() + " message lacks '" + fragment + "': " + message);
    }
  }

  /** The rule number of a method name: {@code required_spec101_…} and {@code optional_spec207_…} alike. */
  static String ruleOf(String methodName) {
    int at = methodName.indexOf("_spec") + "_spec".length();
    return methodName.substring(at, at + 3);
  }

  private static String methodName(Event e) {
    return e.getTestDescriptor().getSource().map(s -> ((MethodSource) s).getMethodName()).orElse("?");
  }

  /** Runs the selected rules of {@code kit}; returns failed method name to failure message. */
  private static Map<String, String> run(Class<? extends BrokeredBackendVerification> kit, Predicate<String> which) {
    List<Event> finished = execute(kit, which);
    Map<String, String> failures = new TreeMap<>();
    for (Event e : finished) {
      TestExecutionResult result = e.getRequiredPayload(TestExecutionResult.class);
      if (result.getStatus() != TestExecutionResult.Status.SUCCESSFUL) {
        failures.put(methodName(e), result.getThrowable().map(String::valueOf).orElse(result.getStatus().toString()));
      }
    }
    return failures;
  }

  /** Runs the selected rules ({@code required_} and {@code optional_}) of {@code kit}; returns their finish events. */
  private static List<Event> execute(Class<? extends BrokeredBackendVerification> kit, Predicate<String> which) {
    return executeAll(kit, n -> (n.startsWith("required_") || n.startsWith("optional_")) && which.test(n));
  }

  /** Runs the rules (methods of {@link BrokeredBackendRules}) {@code which} selects; returns their finish events. */
  private static List<Event> executeAll(Class<? extends BrokeredBackendVerification> kit, Predicate<String> which) {
    MethodSelector[] selectors = Arrays.stream(BrokeredBackendRules.class.getMethods())
        .map(Method::getName)
        .filter(which)
        .sorted()
        .map(n -> selectMethod(kit, n))
        .toArray(MethodSelector[]::new);
    List<Event> finished = EngineTestKit.engine("junit-jupiter").selectors(selectors).execute()
        .testEvents().finished().list();
    assertEquals(selectors.length, finished.size(), "every selected rule ran");
    return finished;
  }
}
