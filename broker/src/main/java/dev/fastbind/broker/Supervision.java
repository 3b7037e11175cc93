package dev.fastbind.broker;

import java.time.Duration;
import java.util.Objects;

/**
 * How a {@link WorkerPool} restarts workers that fail, after Erlang/OTP's supervisors: at most
 * {@link #intensity()} restarts within any {@link #period()}; one more failure inside that window and
 * the pool gives up (it stops its workers, reports it, and fails every call with a
 * {@link RestartLimitException} that names the last deaths), because a worker that keeps crashing
 * will not be fixed by starting it again.
 *
 * <p>Only failures count and are restarted at once: a worker that exited with status 0 (its idle
 * timeout, or {@code ServeContext.requestShutdown}) is started again by the next call that needs it,
 * without using up the budget. The default, {@link #DEFAULT}, is one-for-one with 3 restarts in 5 s:
 * OTP's default period, with an intensity that lets one bad request hit a few workers before the
 * pool decides the fault is not transient.
 *
 * @param strategy which workers a failure restarts
 * @param intensity how many restarts the period allows; 0 means a failure ends the pool
 * @param period the sliding window the restarts are counted in; positive
 */
public record Supervision(Strategy strategy, int intensity, Duration period) {

  /** One-for-one, 3 restarts within 5 s. */
  public static final Supervision DEFAULT = oneForOne(3, Duration.ofSeconds(5));

  /**
   * Which workers a failure restarts. There is no rest-for-one: a pool's workers are identical and
   * started in no order, so "the workers started after the failed one" means nothing.
   */
  public enum Strategy {
    /** Only the failed worker is restarted; the others keep serving. The default. */
    ONE_FOR_ONE,
    /**
     * Every worker is stopped (their deaths reported as {@link WorkerEvent.Reason#KILLED}) and all are
     * started again: for workers that share something a failure may have damaged (a cache
     * directory, a generation of loaded code), which must not be served by survivors.
     */
    ONE_FOR_ALL
  }

  /**
   * Validates the components.
   *
   * @throws IllegalArgumentException if the intensity is negative or the period not positive
   */
  public Supervision {
    Objects.requireNonNull(strategy, "strategy");
    Objects.requireNonNull(period, "period");
    if (intensity < 0) {
      throw new IllegalArgumentException("the restart intensity must be 0 or more, got " + intensity);
    }
    if (period.isNegative() || period.isZero()) {
      throw new IllegalArgumentException("the restart period must be positive, got " + period);
    }
  }

  /**
   * One-for-one supervision.
   *
   * @param intensity restarts allowed within {@code period}
   * @param period the window
   * @return the supervision
   */
  public static Supervision oneForOne(int intensity, Duration period) {
    return new Supervision(Strategy.ONE_FOR_ONE, intensity, period);
  }

  /**
   * One-for-all supervision.
   *
   * @param intensity restarts allowed within {@code period} (one failure restarting all counts once)
   * @param period the window
   * @return the supervision
   */
  public static Supervision oneForAll(int intensity, Duration period) {
    return new Supervision(Strategy.ONE_FOR_ALL, intensity, period);
  }
}
