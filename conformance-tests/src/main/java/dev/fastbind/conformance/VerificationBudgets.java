package dev.fastbind.conformance;

import dev.fastbind.broker.ServiceDefinition;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * The time budgets and sizes the behavioural rules use.
 *
 * <p>The defaults are sized for a slow, shared 2-core CI machine: they are generous multiples of what
 * the benchmarks measure, never micro-benchmarks. The readiness budget defaults to 2 s rather than the
 * broker's 500 ms probe budget because a cold JVM start on a loaded 2-core runner alone can take
 * 500 ms; the other durations are deadlines that only a hung daemon reaches.
 *
 * <p><b>Precedence</b> (highest first): an environment variable below, then what a subclass returns
 * from {@link BrokeredBackendVerification#budgets()}, then {@link #defaults()}. So a CI operator can
 * loosen a budget for a slow machine without touching the test code.
 *
 * <table>
 *   <caption>Budgets</caption>
 *   <tr><th>component</th><th>environment variable (milliseconds or a count)</th><th>default</th></tr>
 *   <tr><td>{@code bind}</td><td>{@code FASTBIND_CONFORMANCE_BIND_MS}</td><td>50 ms per {@code bind} call (rule 201)</td></tr>
 *   <tr><td>{@code readiness}</td><td>{@code FASTBIND_CONFORMANCE_READY_MS}</td><td>2 s for the first spawn, JVM start included (rule 301); set 500 to hold a quiet machine to the broker's default probe budget</td></tr>
 *   <tr><td>{@code processDeadline}</td><td>{@code FASTBIND_CONFORMANCE_PROCESS_MS}</td><td>30 s for any one spawn, stop or exit</td></tr>
 *   <tr><td>{@code stopGrace}</td><td>{@code FASTBIND_CONFORMANCE_STOP_GRACE_MS}</td><td>5 s before the broker kills (rule 304); how long past its idle timeout a daemon may take to exit (rule 501)</td></tr>
 *   <tr><td>{@code serveWatch}</td><td>{@code FASTBIND_CONFORMANCE_SERVE_WATCH_MS}</td><td>1 s watched for an early exit (rules 303, 307); how long rule 403 holds a request in flight after the old daemon handed its listener over</td></tr>
 *   <tr><td>{@code launchers}</td><td>{@code FASTBIND_CONFORMANCE_LAUNCHERS}</td><td>8 concurrent launchers (rule 306)</td></tr>
 *   <tr><td>{@code warmup}</td><td>{@code FASTBIND_CONFORMANCE_WARMUP_MS}</td><td>10 s from the spawn until {@code HELLO} says {@code READY} (rule 308); raise it for a backend whose warm-up is longer on the CI machine</td></tr>
 * </table>
 *
 * @param bind the longest one {@code bind} call may take, after one warm-up call
 * @param readiness the probe budget the first spawn must be ready within
 * @param processDeadline the deadline for any one spawn, stop or process exit the kit waits for
 * @param stopGrace the grace period passed to {@code Broker.stop}
 * @param serveWatch how long the daemon is watched for an early exit after it is ready, and how long a
 *     replaced daemon must keep a request in flight open (rule 403)
 * @param launchers how many launchers call {@code ensureRunning} at once
 * @param warmup how long after the spawn {@code HELLO} must say {@code READY}
 */
public record VerificationBudgets(
    Duration bind,
    Duration readiness,
    Duration processDeadline,
    Duration stopGrace,
    Duration serveWatch,
    int launchers,
    Duration warmup) {

  /** Environment variable for {@link #bind()}. */
  public static final String BIND_ENV = "FASTBIND_CONFORMANCE_BIND_MS";
  /** Environment variable for {@link #readiness()}. */
  public static final String READY_ENV = "FASTBIND_CONFORMANCE_READY_MS";
  /** Environment variable for {@link #processDeadline()}. */
  public static final String PROCESS_ENV = "FASTBIND_CONFORMANCE_PROCESS_MS";
  /** Environment variable for {@link #stopGrace()}. */
  public static final String STOP_GRACE_ENV = "FASTBIND_CONFORMANCE_STOP_GRACE_MS";
  /** Environment variable for {@link #serveWatch()}. */
  public static final String SERVE_WATCH_ENV = "FASTBIND_CONFORMANCE_SERVE_WATCH_MS";
  /** Environment variable for {@link #launchers()}. */
  public static final String LAUNCHERS_ENV = "FASTBIND_CONFORMANCE_LAUNCHERS";
  /** Environment variable for {@link #warmup()}. */
  public static final String WARMUP_ENV = "FASTBIND_CONFORMANCE_WARMUP_MS";

  /** The default {@link #warmup()}: a loaded cache index on a shared CI machine, not a micro-benchmark. */
  private static final Duration DEFAULT_WARMUP = Duration.ofSeconds(10);

  /**
   * Validates the components: durations positive, at least two launchers.
   *
   * @param bind the longest one {@code bind} call may take, after one warm-up call
   * @param readiness the probe budget the first spawn must be ready within
   * @param processDeadline the deadline for any one spawn, stop or process exit the kit waits for
   * @param stopGrace the grace period passed to {@code Broker.stop}
   * @param serveWatch how long the daemon is watched for an early exit after it is ready
   * @param launchers how many launchers call {@code ensureRunning} at once
   * @param warmup how long after the spawn {@code HELLO} must say {@code READY}
   * @throws IllegalArgumentException naming the component that is not positive, or fewer than two launchers
   */
  public VerificationBudgets {
    positive(bind, "bind");
    positive(readiness, "readiness");
    positive(processDeadline, "processDeadline");
    positive(stopGrace, "stopGrace");
    positive(serveWatch, "serveWatch");
    positive(warmup, "warmup");
    if (launchers < 2) {
      throw new IllegalArgumentException("launchers must be at least 2, got " + launchers);
    }
  }

  /**
   * Budgets with the default {@link #warmup()}.
   *
   * @param bind the longest one {@code bind} call may take, after one warm-up call
   * @param readiness the probe budget the first spawn must be ready within
   * @param processDeadline the deadline for any one spawn, stop or process exit the kit waits for
   * @param stopGrace the grace period passed to {@code Broker.stop}
   * @param serveWatch how long the daemon is watched for an early exit after it is ready
   * @param launchers how many launchers call {@code ensureRunning} at once
   * @throws IllegalArgumentException as the canonical constructor
   */
  public VerificationBudgets(Duration bind, Duration readiness, Duration processDeadline, Duration stopGrace,
      Duration serveWatch, int launchers) {
    this(bind, readiness, processDeadline, stopGrace, serveWatch, launchers, DEFAULT_WARMUP);
  }

  /**
   * The defaults listed on the type.
   *
   * @return the default budgets
   */
  public static VerificationBudgets defaults() {
    return new VerificationBudgets(Duration.ofMillis(50), Duration.ofSeconds(2),
        Duration.ofSeconds(30), ServiceDefinition.DEFAULT_STOP_GRACE, Duration.ofSeconds(1), 8);
  }

  /**
   * These budgets with every variable set in {@code environment} applied on top.
   *
   * @param environment variable names to values, usually {@code System.getenv()}
   * @return these budgets with the overrides applied
   * @throws IllegalArgumentException naming the variable if a value is not a positive whole number
   */
  public VerificationBudgets withOverrides(Map<String, String> environment) {
    Objects.requireNonNull(environment, "environment");
    return new VerificationBudgets(
        millis(environment, BIND_ENV, bind),
        millis(environment, READY_ENV, readiness),
        millis(environment, PROCESS_ENV, processDeadline),
        millis(environment, STOP_GRACE_ENV, stopGrace),
        millis(environment, SERVE_WATCH_ENV, serveWatch),
        (int) number(environment, LAUNCHERS_ENV, launchers),
        millis(environment, WARMUP_ENV, warmup));
  }

  /**
   * These budgets with {@link #bind()} replaced.
   *
   * @param value the new bind budget; positive
   * @return a copy of these budgets with that value
   */
  public VerificationBudgets withBind(Duration value) {
    return new VerificationBudgets(value, readiness, processDeadline, stopGrace, serveWatch, launchers, warmup);
  }

  /**
   * These budgets with {@link #readiness()} replaced.
   *
   * @param value the new readiness budget; positive
   * @return a copy of these budgets with that value
   */
  public VerificationBudgets withReadiness(Duration value) {
    return new VerificationBudgets(bind, value, processDeadline, stopGrace, serveWatch, launchers, warmup);
  }

  /**
   * These budgets with {@link #processDeadline()} replaced.
   *
   * @param value the new process deadline; positive
   * @return a copy of these budgets with that value
   */
  public VerificationBudgets withProcessDeadline(Duration value) {
    return new VerificationBudgets(bind, readiness, value, stopGrace, serveWatch, launchers, warmup);
  }

  /**
   * These budgets with {@link #stopGrace()} replaced.
   *
   * @param value the new stop grace period; positive
   * @return a copy of these budgets with that value
   */
  public VerificationBudgets withStopGrace(Duration value) {
    return new VerificationBudgets(bind, readiness, processDeadline, value, serveWatch, launchers, warmup);
  }

  /**
   * These budgets with {@link #warmup()} replaced.
   *
   * @param value the new warm-up budget; positive
   * @return a copy of these budgets with that value
   */
  public VerificationBudgets withWarmup(Duration value) {
    return new VerificationBudgets(bind, readiness, processDeadline, stopGrace, serveWatch, launchers, value);
  }

  private static Duration millis(Map<String, String> env, String key, Duration fallback) {
    return Duration.ofMillis(number(env, key, fallback.toMillis()));
  }

  private static long number(Map<String, String> env, String key, long fallback) {
    String raw = env.get(key);
    if (raw == null || raw.isBlank()) {
      return fallback;
    }
    try {
      long value = Long.parseLong(raw.trim());
      if (value > 0) {
        return value;
      }
    } catch (NumberFormatException e) {
      // reported below with the variable's name
    }
    throw new IllegalArgumentException(key + "=" + raw + " is not a positive whole number");
  }

  private static void positive(Duration d, String name) {
    Objects.requireNonNull(d, name);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(name + " must be positive, got " + d);
    }
  }
}
