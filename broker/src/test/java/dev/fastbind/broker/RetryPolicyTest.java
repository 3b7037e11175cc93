package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Which failures a {@link RetryPolicy} retries and how long it pauses: pure logic, no daemon. */
class RetryPolicyTest {

  private static final RetryPolicy NOT_RUN = RetryPolicy.builder().maxAttempts(4).build();
  private static final RetryPolicy IDEMPOTENT = RetryPolicy.builder().maxAttempts(4)
      .retry(RetryPolicy.Retryable.IDEMPOTENT).build();

  private static CallRefusedException refused(CallRefusedException.Reason reason) {
    return new CallRefusedException("refused", "svc", 42, reason, "", -1, -1);
  }

  private static DaemonDiedException died(boolean mayHaveRun) {
    return new DaemonDiedException("died", "svc", 42, mayHaveRun, true, "", "", null);
  }

  @Test
  void refusalsWhileWarmingOrShuttingDownAreRetriedByEveryPolicyThatRetries() {
    for (RetryPolicy p : new RetryPolicy[] {NOT_RUN, IDEMPOTENT}) {
      assertTrue(p.retries(refused(CallRefusedException.Reason.WARMING)));
      assertTrue(p.retries(refused(CallRefusedException.Reason.SHUTTING_DOWN)));
      assertFalse(p.retries(refused(CallRefusedException.Reason.TOO_LARGE)), "the same bytes are refused again");
      assertFalse(p.retries(refused(CallRefusedException.Reason.MALFORMED)));
    }
  }

  @Test
  void aDeathDuringTheCallIsRetriedOnlyForIdempotentRequests() {
    assertTrue(NOT_RUN.retries(died(false)), "nothing reached the daemon");
    assertFalse(NOT_RUN.retries(died(true)), "the request may have run");
    assertTrue(IDEMPOTENT.retries(died(true)));
  }

  @Test
  void handlerFailuresCancellationsAndDeadlinesAreNeverRetried() {
    for (RetryPolicy p : new RetryPolicy[] {NOT_RUN, IDEMPOTENT}) {
      assertFalse(p.retries(new CallFailedException("failed", "svc", 42, "boom", false)));
      assertFalse(p.retries(new CallCancelledException("cancelled", "svc", 42, false, true)));
      assertFalse(p.retries(new CallTimeoutException("late", "svc", 42, false, Duration.ofSeconds(1))));
    }
  }

  @Test
  void noneRetriesNothing() {
    assertEquals(1, RetryPolicy.none().maxAttempts());
    assertFalse(RetryPolicy.none().retries(refused(CallRefusedException.Reason.WARMING)));
    assertFalse(RetryPolicy.none().retries(died(false)));
  }

  @Test
  void pausesDoubleUpToTheMaximumAndAreShortenedByAtMostAHalf() {
    RetryPolicy p = RetryPolicy.builder().maxAttempts(10).backoff(Duration.ofMillis(100), Duration.ofMillis(350)).build();
    long[] full = {100, 200, 350, 350, 350};
    for (int round = 0; round < 200; round++) {
      for (int failed = 1; failed <= full.length; failed++) {
        long nanos = p.pauseNanos(failed);
        long max = TimeUnit.MILLISECONDS.toNanos(full[failed - 1]);
        assertTrue(nanos <= max && nanos >= max - max / 2, "pause after " + failed + ": " + nanos + " ns");
      }
    }
    RetryPolicy atOnce = RetryPolicy.builder().backoff(Duration.ZERO, Duration.ZERO).build();
    assertEquals(0, atOnce.pauseNanos(3));
  }

  @Test
  void aBadPolicyIsRefusedWithWhatToGive() {
    IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
        () -> RetryPolicy.builder().maxAttempts(0));
    assertTrue(zero.getMessage().contains("give 1"), zero.getMessage());
    assertThrows(IllegalArgumentException.class, () -> RetryPolicy.builder().maxAttempts(RetryPolicy.MAX_ATTEMPTS + 1));
    IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
        () -> RetryPolicy.builder().backoff(Duration.ofSeconds(2), Duration.ofSeconds(1)));
    assertTrue(range.getMessage().contains("initial <= max"), range.getMessage());
    assertThrows(IllegalArgumentException.class, () -> RetryPolicy.builder().backoff(Duration.ofMillis(-1), Duration.ZERO));
    IllegalArgumentException huge = assertThrows(IllegalArgumentException.class,
        () -> RetryPolicy.builder().backoff(Duration.ZERO, Duration.ofDays(365_000_000)));
    assertTrue(huge.getMessage().contains("at most an hour"), huge.getMessage());
  }
}
