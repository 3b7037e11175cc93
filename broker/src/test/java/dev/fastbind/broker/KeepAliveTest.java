package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Signals;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kept-alive brokered daemons ({@code ServiceDefinition.Builder.keepAlive}) with real daemons the
 * broker spawns and real {@code kill -9}s of them (marked processes this test started): restarted
 * within the budget, not past it, and not after a stop.
 */
@Timeout(120)
class KeepAliveTest {
  private static final Duration PATIENT = Fixtures.PATIENT;

  @TempDir Path dir;

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final Broker broker = Broker.create(registry);

  @BeforeEach
  void directory() throws Exception {
    RuntimeDirectory.ensureOwnerOnly(dir);
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    // A stop is on purpose: the watching broker does not restart what it stops (a kill would be).
    broker.stop(kept(1));
    Fixtures.killMarked(dir);
  }

  private ServiceDefinition kept(int intensity) {
    return Fixtures.daemon(dir, "kept", "good").keepAlive(Supervision.oneForOne(intensity, Duration.ofMinutes(1)))
        .build();
  }

  private double events(String event, String reason) {
    Counter c = registry.find("fastbind.pool.events").tag("pool", "kept").tag("event", event).tag("reason", reason)
        .counter();
    return c == null ? 0 : c.count();
  }

  private long runningPid(ServiceDefinition def) throws Exception {
    ServiceStatus s = broker.status(def);
    return s instanceof ServiceStatus.Running r ? r.daemon().pid() : -1;
  }

  @Test
  void aKeptAliveDaemonKilledFromOutsideIsRestartedByTheBrokerThatWatchesIt() throws Exception {
    ServiceDefinition def = kept(2);
    long first = broker.ensureRunning(def).pid();
    Signals.kill(first);
    long[] next = {-1};
    Await.until(PATIENT, () -> {
      try {
        next[0] = runningPid(def);
      } catch (Exception e) {
        next[0] = -1;
      }
      return next[0] > 0 && next[0] != first;
    }, () -> "not restarted after kill -9 of " + first);
    assertEquals(1.0, events("restarted", ""));
    assertEquals(1.0, events("died", "vanished"));
  }

  @Test
  void pastItsBudgetAKeptAliveDaemonIsNotRestartedAndTheNextEnsureSaysWhy() throws Exception {
    ServiceDefinition def = kept(1);
    long first = broker.ensureRunning(def).pid();
    Signals.kill(first);
    Await.until(PATIENT, () -> events("restarted", "") == 1.0, () -> "no restart after the first kill");
    long second = broker.ensureRunning(def).pid();
    assertTrue(second != first);
    Signals.kill(second);
    Await.until(PATIENT, () -> events("gave-up", "") == 1.0, () -> "the broker did not give up after the second kill");
    assertEquals(-1, runningPid(def));
    CrashLoopException e = assertThrows(CrashLoopException.class, () -> broker.ensureRunning(def));
    assertTrue(e.getMessage().contains("kept"), e.getMessage());
  }

  @Test
  void aStoppedKeptAliveDaemonStaysStopped() throws Exception {
    ServiceDefinition def = kept(3);
    broker.ensureRunning(def);
    broker.stop(def);
    Await.until(PATIENT, () -> events("died", "shutdown_request") == 1.0, () -> "the stop's death was not seen");
    assertEquals(0.0, events("restarted", ""));
    assertEquals(-1, runningPid(def));
  }
}
