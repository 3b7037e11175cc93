package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.backend.loop.Codec;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Private worker pools with real worker processes ({@link LoopTestDaemon}): calls spread over the
 * workers, a crash mid-call, restarts within and beyond the supervision budget, one-for-all, normal
 * exits, monitors and meters, and the owner's {@code kill -9} ending every worker and its children.
 * Every worker carries this test's marker and halts itself within a minute; only marked processes,
 * and the children the test's own workers started, are ever signalled.
 */
@Timeout(120)
class WorkerPoolTest {
  private static final Duration PATIENT = Fixtures.PATIENT;

  @TempDir Path tmp;

  private final List<WorkerEvent> events = new CopyOnWriteArrayList<>();
  private final List<WorkerPool> pools = new ArrayList<>();
  /** The workers' children of the owner test, held as handles from when they ran: never a reused pid. */
  private final List<ProcessHandle> children = new ArrayList<>();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @BeforeEach
  void directory() throws Exception {
    RuntimeDirectory.ensureOwnerOnly(dir());
  }

  @AfterEach
  void noProcessLeft() {
    for (WorkerPool p : pools) {
      p.close();
    }
    Cleanup.killAll(children, Cleanup.DEFAULT_WAIT);
    Fixtures.killMarked(dir());
  }

  private ServiceDefinition definition() {
    return ServiceDefinition.builder("pooled")
        .javaMain(LoopTestDaemon.class.getName(), Fixtures.marker(dir()), "--lifetime=60")
        .javaOptions(Fixtures.LIGHT_JVM)
        .runtimeDirectory(dir())
        .build();
  }

  private WorkerPool start(WorkerPool.Builder b) throws IOException {
    WorkerPool p = b.monitor(events::add).startTimeout(Duration.ofSeconds(30)).start();
    pools.add(p);
    return p;
  }

  private static String call(WorkerPool p, String request) throws IOException {
    return p.call(request, Codec.utf8(), Codec.utf8(), Duration.ofSeconds(30));
  }

  private <T extends WorkerEvent> List<T> events(Class<T> type) {
    return events.stream().filter(type::isInstance).map(type::cast).collect(Collectors.toList());
  }

  private static boolean gone(long pid) {
    return ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true) || !Files.exists(Path.of("/proc/" + pid));
  }

  @Test
  void callsAreSpreadOverTheWorkersWhichStayOutOfTheSharedRegistry() throws Exception {
    WorkerPool pool = start(WorkerPool.builder(definition()).size(2));
    assertEquals(2, pool.workers().size());
    ExecutorService callers = Executors.newFixedThreadPool(4);
    try {
      Set<String> pids = new HashSet<>();
      for (int round = 0; round < 20 && pids.size() < 2; round++) {
        List<Future<String>> answers = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
          answers.add(callers.submit(() -> call(pool, "pid")));
        }
        for (Future<String> f : answers) {
          pids.add(f.get());
        }
      }
      Set<String> workers = pool.workers().stream().map(w -> Long.toString(w.pid())).collect(Collectors.toSet());
      assertEquals(workers, pids, "calls reached both workers and only them");
    } finally {
      callers.shutdownNow();
    }
    assertEquals(List.of(), Broker.create().list(dir()), "private workers are not in the per-user registry");
    assertTrue(pool.directory().startsWith(dir().resolve("pools")), pool.directory().toString());

    List<Long> pids = pool.workers().stream().map(DaemonInfo::pid).collect(Collectors.toList());
    pool.close();
    for (long pid : pids) {
      assertTrue(gone(pid), "worker " + pid + " outlived close()");
    }
    assertFalse(Files.exists(pool.directory()), "close() removes the pool's directory");
    Await.until(PATIENT, () -> events(WorkerEvent.Died.class).size() == 2, () -> "deaths reported: " + events);
    assertTrue(events(WorkerEvent.Died.class).stream().allMatch(d -> d.reason() == WorkerEvent.Reason.KILLED), events
        .toString());
    assertEquals(2, events(WorkerEvent.Started.class).size(), events.toString());
    assertThrows(CallCancelledException.class, () -> call(pool, "pid"));
  }

  @Test
  void aWorkerThatCrashesMidCallFailsThatCallWithItsReasonAndTheNextCallIsServed() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    WorkerPool pool = start(WorkerPool.builder(definition()).meterRegistry(registry));
    long first = pool.workers().get(0).pid();

    DaemonDiedException died = assertThrows(DaemonDiedException.class, () -> call(pool, "halt 3"));
    assertTrue(died.getMessage().contains("status 3"), died.getMessage());
    assertEquals(first, died.pid().orElse(-1));

    String next = call(pool, "pid");
    assertNotEquals(Long.toString(first), next, "the next call is served by a restarted worker");
    Await.until(PATIENT, () -> events(WorkerEvent.Started.class).size() == 2, () -> "starts: " + events);
    WorkerEvent.Died d = events(WorkerEvent.Died.class).get(0);
    assertEquals(WorkerEvent.Reason.FAILURE, d.reason());
    assertEquals(3, d.exitStatus().orElse(-1), d.toString());
    assertEquals(first, d.pid());
    assertEquals(1, events(WorkerEvent.Started.class).get(1).generation());
    assertEquals(1.0, registry.get("fastbind.pool.events").tag("event", "restarted").counter().count());
    assertEquals(1.0, registry.get("fastbind.pool.events").tag("event", "died").tag("reason", "failure").counter()
        .count());
  }

  @Test
  void aWorkerKilledFromOutsideIsReportedWithItsSignalAndRestarted() throws Exception {
    WorkerPool pool = start(WorkerPool.builder(definition()));
    long first = pool.workers().get(0).pid();
    dev.fastbind.testsupport.Signals.kill(first);
    Await.until(PATIENT, () -> events(WorkerEvent.Started.class).size() == 2, () -> "no restart: " + events);
    WorkerEvent.Died d = events(WorkerEvent.Died.class).get(0);
    assertEquals(WorkerEvent.Reason.FAILURE, d.reason());
    assertEquals(9, d.signal().orElse(-1), d.toString());
    assertTrue(d.summary().contains("SIGKILL"), d.summary());
    assertNotEquals(Long.toString(first), call(pool, "pid"));
  }

  @Test
  void failuresBeyondTheIntensityStopTheRestartsAndEveryCallNamesTheDeaths() throws Exception {
    WorkerPool pool = start(WorkerPool.builder(definition()).supervision(Supervision.oneForOne(1,
        Duration.ofMinutes(1))));
    assertThrows(DaemonDiedException.class, () -> call(pool, "halt 5"));
    Await.until(PATIENT, () -> pool.workers().size() == 1, () -> "no restart after the first failure: " + events);
    assertThrows(DaemonDiedException.class, () -> call(pool, "halt 6"));
    Await.until(PATIENT, () -> !events(WorkerEvent.GaveUp.class).isEmpty(), () -> "the pool did not give up: "
        + events);

    RestartLimitException e = assertThrows(RestartLimitException.class, () -> call(pool, "pid"));
    assertTrue(e.getMessage().contains("exit status 5") && e.getMessage().contains("exit status 6"),
        e.getMessage());
    assertTrue(e.getMessage().contains("restart intensity of 1"), e.getMessage());
    assertEquals(2, e.lastDeaths().size());
    assertTrue(pool.failure().isPresent());
    assertEquals(List.of(), pool.workers());
    assertEquals(2, events(WorkerEvent.Started.class).size(), "no restart after the limit: " + events);
  }

  @Test
  void oneForAllRestartsEveryWorkerWhenOneFails() throws Exception {
    WorkerPool pool = start(WorkerPool.builder(definition()).size(2).supervision(Supervision.oneForAll(3,
        Duration.ofMinutes(1))));
    Set<Long> before = pool.workers().stream().map(DaemonInfo::pid).collect(Collectors.toSet());
    dev.fastbind.testsupport.Signals.kill(before.iterator().next());
    Await.until(PATIENT, () -> events(WorkerEvent.Started.class).size() == 4, () -> "not all restarted: " + events);
    Set<Long> after = pool.workers().stream().map(DaemonInfo::pid).collect(Collectors.toSet());
    assertEquals(2, after.size());
    assertTrue(java.util.Collections.disjoint(before, after), before + " then " + after);
    Await.until(PATIENT, () -> events(WorkerEvent.Died.class).size() == 2, () -> "deaths: " + events);
    List<WorkerEvent.Reason> reasons = events(WorkerEvent.Died.class).stream().map(WorkerEvent.Died::reason).sorted()
        .collect(Collectors.toList());
    assertEquals(List.of(WorkerEvent.Reason.FAILURE, WorkerEvent.Reason.KILLED), reasons);
  }

  @Test
  void aNormalExitIsRestartedByTheNextCallWithoutUsingTheRestartBudget() throws Exception {
    WorkerPool pool = start(WorkerPool.builder(definition()).supervision(Supervision.oneForOne(0,
        Duration.ofMinutes(1))));
    long first = pool.workers().get(0).pid();
    assertEquals("stopping", call(pool, "shutdown"));
    Await.until(PATIENT, () -> !events(WorkerEvent.Died.class).isEmpty(), () -> "no death: " + events);
    assertEquals(WorkerEvent.Reason.NORMAL, events(WorkerEvent.Died.class).get(0).reason());
    assertNotEquals(Long.toString(first), call(pool, "pid"));
    assertTrue(pool.failure().isEmpty());
  }

  @Test
  void aWorkerThatCannotBeStartedIsNoSuchProcessAndFailsTheStart() throws Exception {
    ServiceDefinition def = ServiceDefinition.builder("pooled")
        .javaMain(LoopTestDaemon.class.getName(), Fixtures.marker(dir()), "--lifetime=60")
        .javaOptions(Fixtures.LIGHT_JVM)
        .runtimeDirectory(dir())
        .workingDirectory(tmp.resolve("missing"))
        .build();
    IOException e = assertThrows(IOException.class, () -> start(WorkerPool.builder(def)));
    assertTrue(e.getMessage().contains("working directory"), e.getMessage());
    Await.until(PATIENT, () -> !events(WorkerEvent.Died.class).isEmpty(), () -> "no death: " + events);
    assertEquals(WorkerEvent.Reason.NO_SUCH_PROCESS, events(WorkerEvent.Died.class).get(0).reason());
  }

  @Test
  void killingTheOwnerJvmEndsItsWorkersAndTheirChildren() throws Exception {
    List<String> cmd = JavaCommand.of(PoolOwner.class).light().args(dir().toString(), "2").build();
    Process owner = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    List<Long> pids = new ArrayList<>();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(owner.getInputStream(),
        StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null && !line.equals("READY")) {
        if (line.startsWith("WORKER ")) {
          String[] f = line.split(" ");
          pids.add(Long.parseLong(f[1]));
          long child = Long.parseLong(f[2]);
          // A handle now, while the child runs: its start time is checked before any signal later.
          ProcessHandle.of(child).ifPresent(children::add);
          pids.add(child);
        }
      }
      assertEquals("READY", line, "the owner did not get ready; it printed: " + pids);
      assertEquals(4, pids.size(), "two workers and a child each: " + pids);
      for (long pid : pids) {
        assertFalse(gone(pid), pid + " is not running before the owner dies");
      }
      dev.fastbind.testsupport.Signals.send("KILL", owner.pid());
      owner.waitFor();
      Await.until(PATIENT, () -> pids.stream().allMatch(WorkerPoolTest::gone),
          () -> "still running after the owner's kill -9: " + pids.stream().filter(p -> !gone(p))
              .collect(Collectors.toList()));
    } finally {
      owner.destroyForcibly();
    }
  }
}
