package dev.fastbind.backend.testing;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waits for a condition that has no event to wait on, with a deadline; parks between checks. */
public final class Await {
  private Await() {}

  /** Returns once {@code condition} holds; fails with {@code what} (and its details) at the deadline. */
  public static void until(BooleanSupplier condition, Duration timeout, Supplier<String> what) {
    long end = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - end > 0) {
        throw new AssertionError("timed out after " + timeout + " waiting for: " + what.get());
      }
      LockSupport.parkNanos(2_000_000);
    }
  }
}
