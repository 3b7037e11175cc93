package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LogLimiterTest {

  private static final long WINDOW = TimeUnit.SECONDS.toNanos(10);

  private final AtomicLong now = new AtomicLong(1_000);
  private final LogLimiter limiter = new LogLimiter(now::get, WINDOW);

  @Test
  void theFirstEventOfAWindowIsLoggedTheRestCountedAndSummarisedByTheFirstEventAfterIt() {
    assertEquals(new LogLimiter.Verdict(true, 0, 10), limiter.event("peer uid 65534"));
    for (int i = 0; i < 1934; i++) {
      assertFalse(limiter.event("peer uid 65534").logThis());
    }
    now.addAndGet(WINDOW);
    assertEquals(new LogLimiter.Verdict(true, 1934, 10), limiter.event("peer uid 65534"));
    assertFalse(limiter.event("peer uid 65534").logThis());
  }

  @Test
  void keysAreLimitedApartAndDrainReportsWhatWasLeftOut() {
    assertTrue(limiter.event("a").logThis());
    assertTrue(limiter.event("b").logThis());
    limiter.event("a");
    limiter.event("a");
    assertEquals(List.of(new LogLimiter.Summary("a", 2, 10)), limiter.drain());
    assertTrue(limiter.event("a").logThis(), "drain forgets the windows");
  }

  @Test
  void aFloodOfDistinctKeysSharesOneWindowPastTheLimit() {
    int logged = 0;
    for (int i = 0; i < 10_000; i++) {
      if (limiter.event("peer uid " + i).logThis()) {
        logged++;
      }
    }
    assertEquals(LogLimiter.MAX_KEYS, logged, "one line per tracked key, one for all the others");
  }
}
