package dev.fastbind.examples.hello;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.broker.Broker;
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
import dev.fastbind.testing.BrokerOperation;
import dev.fastbind.testing.InProcessDaemon;
import dev.fastbind.testing.RecordingBroker;
import dev.fastbind.testing.ScriptedBroker;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link HelloLauncher}'s code paths through the seams of {@code fastbind-testing}: every exception a
 * broker throws, scripted; the calls each command makes, recorded; and the backend in-process,
 * answering as the spawned daemon does.
 */
class HelloLauncherSeamsTest {
  private static final Path LOG = Path.of("/run/user/1000/fastbind/hello.log");

  @TempDir Path runtime;

  /** What one run printed and returned. */
  private record Outcome(int status, String out, String err) {}

  private Outcome run(dev.fastbind.broker.DaemonBroker broker, ServiceDefinition hello, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = HelloLauncher.run(broker, hello, args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Outcome(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void eachBrokerExceptionGetsItsOwnLineAndExitStatus() {
    Map<IOException, String> expected = new java.util.LinkedHashMap<>();
    expected.put(new DaemonStartException("hello", DaemonStartException.Failure.EXITED, Duration.ofMillis(40), 3, -1,
        "bad flag", LOG, ""), "69 hello: the daemon did not start: daemon 'hello' exited");
    expected.put(new VersionMismatchException("hello", "1.0.0", "2.0.0", 4242),
        "69 hello: another version of the daemon runs (hello stop ends it): ");
    expected.put(new CrashLoopException("hello", 3, Duration.ofSeconds(30), Duration.ofSeconds(12), LOG, ""),
        "75 hello: the daemon keeps crashing; try again in 12 s: daemon 'hello' was spawned 3 times");
    expected.put(new DaemonUnresponsiveException("hello", 4242, Duration.ofMillis(500), "stopped"),
        "75 hello: the daemon does not answer (hello stop ends it): ");
    expected.put(new SpawnLockTimeoutException("hello", Path.of("/run/hello.spawn-lock"), Duration.ofSeconds(30), 4243,
        "R (running)"), "75 hello: another launcher is starting or stopping the daemon: ");
    expected.put(new UntrustedStateException("hello", UntrustedStateException.Kind.UNVERIFIED_PROCESS, LOG, 4242,
        "pid 4242 is not the daemon"), "77 hello: the runtime files are not the daemon's; nothing was touched: pid 4242");
    expected.put(new RuntimeFileException(LOG.getParent(), "it is open to others", null),
        "77 hello: the runtime directory cannot be used: ");
    expected.put(new IOException("No space left on device"), "1 hello: I/O failure: No space left on device");
    ServiceDefinition hello = HelloLauncher.definition(runtime);
    List<String> mismatches = new ArrayList<>();
    for (Map.Entry<IOException, String> e : expected.entrySet()) {
      for (String[] command : List.of(new String[] {"ask", "x"}, new String[] {"status"}, new String[] {"stop"})) {
        ScriptedBroker broker = ScriptedBroker.create();
        for (BrokerOperation op : List.of(BrokerOperation.ENSURE_RUNNING, BrokerOperation.STATUS, BrokerOperation.STOP)) {
          broker.fail(op, e.getKey());
        }
        Outcome o = run(broker, hello, command);
        String got = o.status() + " " + o.err();
        if (!got.startsWith(e.getValue()) || !o.out().isEmpty() || !o.err().endsWith(e.getKey().getMessage() + System.lineSeparator())) {
          mismatches.add(command[0] + " with " + e.getKey().getClass().getSimpleName() + ": " + got);
        }
      }
    }
    assertEquals(List.of(), mismatches);
  }

  @Test
  void statusAndStopNeverStartTheDaemonAndTheDemoMakesItsCallsInOrder() throws Exception {
    ServiceDefinition hello = HelloLauncher.definition(runtime);
    DaemonInfo daemon;
    try (InProcessDaemon local = InProcessDaemon.start(HelloLauncher.definition(runtime, true))) {
      daemon = local.daemon();
      ScriptedBroker script = ScriptedBroker.create()
          .answer(BrokerOperation.STATUS, new ServiceStatus.Absent("hello"))
          .answer(BrokerOperation.STOP, StopResult.NOT_RUNNING)
          .answer(BrokerOperation.ENSURE_RUNNING, daemon);
      RecordingBroker broker = RecordingBroker.of(script);
      assertEquals(new Outcome(0, "ABSENT\n", ""), run(broker, hello, "status"));
      assertEquals(new Outcome(0, "stop: NOT_RUNNING\n", ""), run(broker, hello, "stop"));
      assertEquals(List.of(BrokerOperation.STATUS, BrokerOperation.STOP), broker.operations());
      assertEquals(List.of(hello), broker.calls().get(0).arguments());
      broker.clear();

      Outcome demo = run(broker, hello, "demo");
      assertEquals(0, demo.status(), demo.err());
      assertEquals(List.of(BrokerOperation.STOP, BrokerOperation.ENSURE_RUNNING, BrokerOperation.STATUS,
          BrokerOperation.ENSURE_RUNNING, BrokerOperation.STATUS, BrokerOperation.STOP, BrokerOperation.STATUS),
          broker.operations());
      assertTrue(demo.out().contains("4. request ............ hello, demo (request 1 served by pid "
          + ProcessHandle.current().pid()), demo.out());
      assertEquals(64, run(broker, hello, "frobnicate").status());
    }
  }

  @Test
  void theBackendInProcessAnswersAsTheSpawnedDaemonDoes() throws Exception {
    Broker broker = Broker.create();
    ServiceDefinition spawned = HelloLauncher.definition(runtime);
    ServiceDefinition inProcess = HelloLauncher.definition(runtime, true);
    List<String> names = List.of("ada", "grace", "linus");
    try {
      List<String> fromDaemon = answers(broker, spawned, names);
      List<String> fromJvm = answers(broker, inProcess, names);
      assertEquals(strip(fromDaemon), strip(fromJvm));
      assertEquals("hello, ada (request 1", strip(fromJvm).get(0));
      assertTrue(fromJvm.get(0).contains("served by pid " + ProcessHandle.current().pid() + ","), fromJvm.get(0));
      assertNotEquals(broker.ensureRunning(spawned).pid(), broker.ensureRunning(inProcess).pid());
      assertEquals(new Outcome(0, "hello, again (request 4 served by pid " + ProcessHandle.current().pid()
          + ", instance " + broker.ensureRunning(inProcess).instanceId().substring(0, 8) + ")\n", ""),
          run(broker, inProcess, "ask", "again"));
    } finally {
      broker.stop(inProcess);
      broker.stop(spawned); // no daemon outlives the test
    }
  }

  /** The README's "Testing your launcher" snippet, as it stands there. */
  @Test
  void theReadmeSnippetHolds() throws Exception {
    ServiceDefinition hello = HelloLauncher.definition(runtime);
    Path log = LOG;
    PrintStream out = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    PrintStream err = out;
    // --- as in README.md
    ScriptedBroker script = ScriptedBroker.create()
        .fail(BrokerOperation.ENSURE_RUNNING, new CrashLoopException("hello", 3, Duration.ofSeconds(30),
            Duration.ofSeconds(12), log, ""))
        .answer(BrokerOperation.STATUS, new ServiceStatus.Absent("hello"));
    RecordingBroker broker = RecordingBroker.of(script);
    assertEquals(75, HelloLauncher.run(broker, hello, new String[] {"ask", "x"}, out, err)); // try again later
    assertEquals(0, HelloLauncher.run(broker, hello, new String[] {"status"}, out, err));
    assertEquals(List.of(BrokerOperation.ENSURE_RUNNING, BrokerOperation.STATUS), broker.operations());

    try (InProcessDaemon daemon = InProcessDaemon.start(HelloLauncher.definition(runtime, true))) {
      assertTrue(HelloLauncher.ask(daemon.daemon(), "you").startsWith("hello, you (request 1")); // a real socket
    }
    // ---
  }

  private List<String> answers(Broker broker, ServiceDefinition hello, List<String> names) throws IOException {
    List<String> got = new ArrayList<>();
    for (String n : names) {
      got.add(HelloLauncher.ask(broker.ensureRunning(hello), n));
    }
    return got;
  }

  /** The answers without the pid and instance that differ between a daemon and this JVM. */
  private static List<String> strip(List<String> answers) {
    return answers.stream().map(a -> a.replaceAll(" served by pid .*", "")).toList();
  }
}
