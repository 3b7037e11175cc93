package dev.fastbind.conformance.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Rule 303's HELLO checks can fail: another daemon answering, and a state back from READY to WARMING. */
class HelloChecksTest {

  private static HelloReply hello(long pid, String instance, DaemonState state) {
    return new HelloReply("svc", "1.0", pid, instance, state, 0, Optional.empty());
  }

  @Test
  void theDaemonTheBrokerReportedPasses() {
    assertEquals(List.of(), HelloChecks.identityProblems(hello(7, "a", DaemonState.WARMING), 7, "a", "svc"));
  }

  @Test
  void anotherDaemonIsReportedByWhatDiffers() {
    assertEquals(List.of("pid 8 (the daemon is 7)", "instance b (the lockfile names a)", "service svc (expected other)"),
        HelloChecks.identityProblems(hello(8, "b", DaemonState.READY), 7, "a", "other"));
  }

  @Test
  void warmingThenReadyPasses() {
    assertEquals(List.of(),
        HelloChecks.laterProblems(hello(7, "a", DaemonState.WARMING), hello(7, "a", DaemonState.READY)));
  }

  @Test
  void readyThenWarmingIsReported() {
    assertEquals(List.of("state WARMING after READY"),
        HelloChecks.laterProblems(hello(7, "a", DaemonState.READY), hello(7, "a", DaemonState.WARMING)));
  }

  @Test
  void anotherDaemonAnsweringLaterIsReported() {
    assertEquals(List.of("pid 9 (the daemon is 7)", "instance c (the lockfile names a)"),
        HelloChecks.laterProblems(hello(7, "a", DaemonState.READY), hello(9, "c", DaemonState.READY)));
  }
}
