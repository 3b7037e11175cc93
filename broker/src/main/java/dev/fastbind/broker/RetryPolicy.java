package dev.fastbind.broker;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * When a {@link DaemonClient} call is tried again after it failed, and how long it pauses first.
 * Retrying stays the caller's decision: without a policy ({@link #none()}, the default) a failure is
 * thrown as it happened, and the client resends on its own only a request of which not one byte was
 * sent (see {@link DaemonClient}).
 *
 * <pre>{@code
 * RetryPolicy retry = RetryPolicy.builder().maxAttempts(5).build();          // only what cannot have run
 * String v = client.call("get k", Codec.utf8(), Codec.utf8(), Duration.ofSeconds(10), retry);
 * }</pre>
 *
 * <p><b>What is retried</b> is chosen by {@link Retryable}: {@link Retryable#NOT_RUN} (the builder's
 * default) retries only failures after which the request cannot have run, so it is safe for any
 * request; {@link Retryable#IDEMPOTENT} also retries a daemon that died with the request possibly
 * run, for requests that may run twice. Never retried, whatever the policy: a handler's failure or
 * a protocol violation ({@link CallFailedException}: the daemon is alive and answered), a request
 * the daemon refused as too large or malformed (the same bytes would be refused again), a
 * cancellation ({@link CallCancelledException}: the caller or {@link DaemonClient#close()} ended
 * it), the deadline ({@link CallTimeoutException}), and every {@link BrokerException} (a daemon
 * that cannot be started: the broker's crash-loop guard already decides when a new start is worth
 * it).
 *
 * <p><b>Time.</b> The call's deadline covers every attempt and every pause: a retry whose pause
 * would end after the deadline is not made, and the last failure is thrown. Pauses double from
 * {@link #initialBackoff()} up to {@link #maxBackoff()}, each shortened by a random part of up to a
 * half, so that launchers that failed together (a daemon replaced under all of them) do not retry in
 * step. An interrupt during a pause, or {@link DaemonClient#close()}, ends the call with
 * {@link CallCancelledException}.
 *
 * <p><b>What the caller sees.</b> The answer of the attempt that succeeded; or the failure of the
 * last attempt, carrying the first attempt's failure as suppressed when there was more than one, and
 * whose {@link DaemonCallException#mayHaveRun()} is true when any attempt may have run.
 * {@link DaemonClient#lastDaemon()} names the daemon that answered.
 *
 * <p>Immutable and thread-safe; one policy serves any number of clients and calls.
 */
public final class RetryPolicy {

  /** Which failures a policy retries. */
  public enum Retryable {
    /**
     * Only failures after which the request cannot have run ({@link DaemonCallException#mayHaveRun()}
     * is false): the daemon refused it while warming up or shutting down, or died or stopped before
     * it received the request. Safe for every request.
     */
    NOT_RUN,
    /**
     * Also a daemon that died during the call, with the request possibly run
     * ({@link DaemonDiedException}): for requests that do no harm when they run twice.
     */
    IDEMPOTENT
  }

  /** The most attempts a policy may make. */
  public static final int MAX_ATTEMPTS = 100;
  /** The longest pause a policy may make between two attempts. */
  public static final Duration MAX_BACKOFF = Duration.ofHours(1);

  private static final RetryPolicy NONE =
      new RetryPolicy(1, Duration.ZERO, Duration.ZERO, Retryable.NOT_RUN);

  private final int maxAttempts;
  private final Duration initialBackoff;
  private final Duration maxBackoff;
  private final Retryable retryable;

  private RetryPolicy(int maxAttempts, Duration initialBackoff, Duration maxBackoff, Retryable retryable) {
    this.maxAttempts = maxAttempts;
    this.initialBackoff = initialBackoff;
    this.maxBackoff = maxBackoff;
    this.retryable = retryable;
  }

  /**
   * No retry: one attempt, its failure thrown as it is. What a call without a policy does.
   *
   * @return the policy of one attempt
   */
  public static RetryPolicy none() {
    return NONE;
  }

  /**
   * A builder, starting from 3 attempts, pauses from 50 ms up to 1 s, and {@link Retryable#NOT_RUN}.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * How many attempts a call makes at most, the first included.
   *
   * @return at least 1
   */
  public int maxAttempts() {
    return maxAttempts;
  }

  /**
   * The pause before the second attempt, before its random shortening.
   *
   * @return zero or positive
   */
  public Duration initialBackoff() {
    return initialBackoff;
  }

  /**
   * The longest pause between two attempts.
   *
   * @return at least {@link #initialBackoff()}
   */
  public Duration maxBackoff() {
    return maxBackoff;
  }

  /**
   * Which failures are retried.
   *
   * @return the kind of failures
   */
  public Retryable retryable() {
    return retryable;
  }

  /**
   * Whether this policy tries a call again after {@code failure} (attempts and time left aside).
   *
   * @param failure what the last attempt threw
   * @return true if the failure is of a kind this policy retries
   */
  public boolean retries(DaemonCallException failure) {
    Objects.requireNonNull(failure, "failure");
    if (maxAttempts == 1) {
      return false;
    }
    if (failure instanceof CallRefusedException refused) {
      return refused.reason() == CallRefusedException.Reason.WARMING
          || refused.reason() == CallRefusedException.Reason.SHUTTING_DOWN;
    }
    if (failure instanceof DaemonDiedException) {
      return !failure.mayHaveRun() || retryable == Retryable.IDEMPOTENT;
    }
    return false; // a handler's failure, a cancellation, the deadline
  }

  /**
   * The pause after {@code failedAttempts} failed attempts: {@code initial × 2^(failed-1)}, at most
   * the maximum, less a random part of up to a half.
   */
  long pauseNanos(int failedAttempts) {
    long initial = initialBackoff.toNanos();
    long max = maxBackoff.toNanos();
    if (max == 0) {
      return 0;
    }
    long full = initial;
    for (int i = 1; i < failedAttempts && full < max; i++) {
      full = full > max / 2 ? max : full * 2;
    }
    full = Math.min(full, max);
    return full - ThreadLocalRandom.current().nextLong(full / 2 + 1);
  }

  @Override
  public String toString() {
    return maxAttempts == 1 ? "RetryPolicy[none]"
        : "RetryPolicy[" + maxAttempts + " attempts, " + retryable + ", pauses " + initialBackoff.toMillis()
            + "-" + maxBackoff.toMillis() + " ms]";
  }

  /** Builds a {@link RetryPolicy}; not thread-safe, reusable. */
  public static final class Builder {
    private int maxAttempts = 3;
    private Duration initialBackoff = Duration.ofMillis(50);
    private Duration maxBackoff = Duration.ofSeconds(1);
    private Retryable retryable = Retryable.NOT_RUN;

    private Builder() {}

    /**
     * How many attempts a call makes at most, the first included.
     *
     * @param attempts from 1 (no retry) to {@link #MAX_ATTEMPTS}
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder maxAttempts(int attempts) {
      if (attempts < 1 || attempts > MAX_ATTEMPTS) {
        throw new IllegalArgumentException("maxAttempts " + attempts + " is out of range: give 1 (no retry) to "
            + MAX_ATTEMPTS);
      }
      this.maxAttempts = attempts;
      return this;
    }

    /**
     * The pauses between attempts: {@code initial} before the second, doubling up to {@code max}.
     *
     * @param initial zero (retry at once) or positive
     * @param max at least {@code initial}, at most {@link #MAX_BACKOFF}
     * @return this builder
     * @throws IllegalArgumentException if {@code initial} is negative, {@code max} smaller than it or
     *     longer than {@link #MAX_BACKOFF}
     */
    public Builder backoff(Duration initial, Duration max) {
      Objects.requireNonNull(initial, "initial");
      Objects.requireNonNull(max, "max");
      if (initial.isNegative() || max.compareTo(initial) < 0) {
        throw new IllegalArgumentException("backoff " + initial + " to " + max
            + " is not a range: give 0 <= initial <= max");
      }
      if (max.compareTo(MAX_BACKOFF) > 0) {
        throw new IllegalArgumentException("backoff up to " + max + " is longer than " + MAX_BACKOFF
            + ": give a maximum pause of at most an hour (the call's deadline bounds the whole call anyway)");
      }
      this.initialBackoff = initial;
      this.maxBackoff = max;
      return this;
    }

    /**
     * Which failures are retried.
     *
     * @param which {@link Retryable#NOT_RUN} (the default) or {@link Retryable#IDEMPOTENT}
     * @return this builder
     */
    public Builder retry(Retryable which) {
      this.retryable = Objects.requireNonNull(which, "which");
      return this;
    }

    /**
     * The policy.
     *
     * @return a new immutable policy
     */
    public RetryPolicy build() {
      return new RetryPolicy(maxAttempts, initialBackoff, maxBackoff, retryable);
    }
  }
}
