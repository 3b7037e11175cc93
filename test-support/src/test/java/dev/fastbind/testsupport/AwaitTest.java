package dev.fastbind.testsupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class AwaitTest {

  @Test
  void returnsAtOnceWhenTheConditionAlreadyHolds() {
    long start = System.nanoTime();
    Await.until(Duration.ZERO, () -> true, () -> "never");
    assertTrue(System.nanoTime() - start < Duration.ofSeconds(1).toNanos());
  }

  @Test
  void failsAtTheDeadlineWithTheMessageComputedThen() {
    AtomicInteger checks = new AtomicInteger();
    long start = System.nanoTime();
    AssertionError e = assertThrows(AssertionError.class,
        () -> Await.until(Duration.ofMillis(200), () -> checks.incrementAndGet() < 0, () -> "checked " + checks.get()));
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertTrue(took.compareTo(Duration.ofMillis(200)) >= 0, "gave up early: " + took);
    assertTrue(e.getMessage().contains("(of PT0.2S): checked " + checks.get()), e.getMessage());
  }

  @Test
  void parksBetweenChecksInsteadOfSpinning() {
    AtomicInteger checks = new AtomicInteger();
    assertThrows(AssertionError.class, () -> Await.until(Duration.ofMillis(300), () -> {
      checks.incrementAndGet();
      return false;
    }, () -> ""));
    // 1, 2, 4, 8, 16, then 20 ms pauses: about 20 checks in 300 ms; a spin would make millions
    assertTrue(checks.get() < 40, checks.get() + " checks");
  }

  @Test
  void valueReturnsTheFirstPresentResult() {
    AtomicInteger n = new AtomicInteger();
    assertEquals(3, Await.value(Duration.ofSeconds(5),
        () -> n.incrementAndGet() >= 3 ? Optional.of(n.get()) : Optional.empty(), () -> "no 3"));
  }

  @Test
  void anInterruptEndsTheWaitAndStaysSet() {
    Thread.currentThread().interrupt();
    try {
      AssertionError e = assertThrows(AssertionError.class,
          () -> Await.until(Duration.ofSeconds(30), () -> false, () -> "the impossible"));
      assertTrue(e.getMessage().startsWith("interrupted"), e.getMessage());
      assertTrue(Thread.currentThread().isInterrupted());
    } finally {
      Thread.interrupted();
    }
  }
}
