package dev.fastbind.testsupport;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Waits for a state that no event announces (a file appearing, a thread blocking, a process
 * stopping), with one monotonic deadline. Between checks the thread parks, never spins: 1 ms at
 * first, doubling up to {@link #MAX_PAUSE}, never past the deadline. Where an event exists (a
 * process's exit, a socket's accept, a latch) wait on the event instead.
 *
 * <p>Fails with an {@link AssertionError} that gives the time waited and the caller's message, which
 * is computed only then, so it can describe the state at the deadline. An interrupt ends the wait
 * with an {@link AssertionError}; the interrupt flag stays set.
 */
public final class Await {
  /** The longest pause between two checks. */
  public static final Duration MAX_PAUSE = Duration.ofMillis(20);

  private static final long FIRST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

  private Await() {}

  /** Returns once {@code condition} holds; fails with {@code message} at the deadline. */
  public static void until(Duration timeout, BooleanSupplier condition, Supplier<String> message) {
    Objects.requireNonNull(condition, "condition");
    value(timeout, () -> condition.getAsBoolean() ? Optional.of(Boolean.TRUE) : Optional.empty(), message);
  }

  /**
   * Returns the first value {@code attempt} yields; fails with {@code message} at the deadline. For a
   * state that is read, not just tested (a lockfile's record, a log line).
   */
  public static <T> T value(Duration timeout, Supplier<Optional<T>> attempt, Supplier<String> message) {
    Objects.requireNonNull(timeout, "timeout");
    Objects.requireNonNull(attempt, "attempt");
    Objects.requireNonNull(message, "message");
    if (timeout.isNegative()) {
      throw new IllegalArgumentException("negative timeout " + timeout);
    }
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    long pause = FIRST_PAUSE_NANOS;
    while (true) {
      Optional<T> v = attempt.get();
      if (v.isPresent()) {
        return v.get();
      }
      long left = deadline - System.nanoTime(); // overflow-safe: compare differences, not instants
      if (left <= 0) {
        throw new AssertionError("timed out after " + elapsed(start) + " (of " + timeout + "): " + message.get());
      }
      if (Thread.currentThread().isInterrupted()) {
        throw new AssertionError("interrupted after " + elapsed(start) + " waiting for: " + message.get());
      }
      LockSupport.parkNanos(Math.min(pause, left));
      pause = Math.min(pause * 2, MAX_PAUSE.toNanos());
    }
  }

  private static String elapsed(long start) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms";
  }
}
