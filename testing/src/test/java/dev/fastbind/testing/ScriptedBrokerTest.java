package dev.fastbind.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.broker.CrashLoopException;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.DaemonStartException;
import dev.fastbind.broker.DaemonUnresponsiveException;
import dev.fastbind.broker.RuntimeFileException;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import dev.fastbind.broker.SpawnLockTimeoutException;
import dev.fastbind.broker.StopResult;
import dev.fastbind.broker.UntrustedStateException;
import dev.fastbind.broker.VersionMismatchException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ScriptedBrokerTest {
  private static final ServiceDefinition HELLO = ServiceDefinition.builder("hello").command("/bin/true").build();
  private static final Path LOG = Path.of("/tmp/hello.log");

  /** One of each type a real broker throws: what a launcher's error handling must cover. */
  static List<IOException> everyBrokerException() {
    return List.of(
        new DaemonStartException("hello", DaemonStartException.Failure.EXITED, Duration.ofMillis(40), 3, -1,
            "bad flag", LOG, "usage: hello"),
        new CrashLoopException("hello", 3, Duration.ofSeconds(30), Duration.ofSeconds(12), LOG, ""),
        new DaemonUnresponsiveException("hello", 4242, Duration.ofMillis(500), "process state T (stopped)"),
        new VersionMismatchException("hello", "1.0.0", "2.0.0", 4242),
        new UntrustedStateException("hello", UntrustedStateException.Kind.UNVERIFIED_PROCESS, LOG, 4242,
            "pid 4242 is not the daemon"),
        new RuntimeFileException(LOG, "open to others", null),
        new SpawnLockTimeoutException("hello", Path.of("/tmp/hello.spawn-lock"), Duration.ofSeconds(30), 4243,
            "R (running)"));
  }

  @Test
  void answersInScriptOrderThenRepeatsTheLastAnswer() throws Exception {
    DaemonInfo info = ScriptedBroker.daemon("hello", Endpoint.unixPath(Path.of("/tmp/hello.sock")));
    ScriptedBroker broker = ScriptedBroker.create()
        .fail(BrokerOperation.ENSURE_RUNNING, new IOException("disk full"))
        .answer(BrokerOperation.ENSURE_RUNNING, info);
    assertEquals("disk full", assertThrows(IOException.class, () -> broker.ensureRunning(HELLO)).getMessage());
    assertSame(info, broker.ensureRunning(HELLO));
    assertSame(info, broker.ensureRunning(HELLO));
  }

  @Test
  void throwsEachBrokerExceptionAsScripted() {
    for (IOException e : everyBrokerException()) {
      ScriptedBroker broker = ScriptedBroker.create().fail(BrokerOperation.STOP, e);
      assertSame(e, assertThrows(IOException.class, () -> broker.stop(HELLO, Duration.ZERO)));
    }
  }

  @Test
  void answersEveryOperation() throws Exception {
    ScriptedBroker broker = ScriptedBroker.create()
        .answer(BrokerOperation.STATUS, new ServiceStatus.Absent("hello"))
        .answer(BrokerOperation.STOP, StopResult.SHUT_DOWN)
        .answer(BrokerOperation.LIST, List.of())
        .answer(BrokerOperation.CLEAN, List.of(LOG))
        .answer(BrokerOperation.LAST_DEATH, Optional.empty());
    assertEquals(new ServiceStatus.Absent("hello"), broker.status(HELLO));
    assertEquals(StopResult.SHUT_DOWN, broker.stop(HELLO));
    assertEquals(List.of(), broker.list());
    assertEquals(List.of(LOG), broker.clean(Duration.ofDays(1)));
    assertEquals(Optional.empty(), broker.lastDeath(HELLO));
  }

  @Test
  void anUnscriptedCallAndAWronglyTypedAnswerAreClearErrors() {
    ScriptedBroker broker = ScriptedBroker.create();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> broker.status(HELLO));
    assertTrue(e.getMessage().contains("STATUS was called but nothing is scripted"), e.getMessage());
    IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class,
        () -> broker.answer(BrokerOperation.STATUS, StopResult.SHUT_DOWN));
    assertTrue(wrong.getMessage().contains("STATUS returns a ServiceStatus"), wrong.getMessage());
  }
}
