package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.backend.loop.Codec;
import dev.fastbind.testsupport.Await;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The request loop's client against real daemons the broker spawns ({@link LoopTestDaemon}): round
 * trips, the loop's bound, warm-up under both policies, an oversized request, the drain during
 * {@code Broker.stop}, {@code kill -9} during and between calls, and interrupts. Every daemon carries
 * this test's marker and halts itself within a minute; only marked processes are ever signalled.
 */
@Timeout(120)
class DaemonClientTest {
  private static final Duration PATIENT = Fixtures.PATIENT;

  @TempDir Path tmp;

  private final Broker broker = Broker.create();
  private final List<DaemonClient> clients = new ArrayList<>();
  private final List<ServerSocketChannel> gates = new ArrayList<>();
  private final List<Thread> threads = new ArrayList<>();
  private ServiceDefinition def;

  private Path dir() {
    return tmp.resolve("rt");
  }

  @BeforeEach
  void directory() throws Exception {
    RuntimeDirectory.ensureOwnerOnly(dir());
  }

  @AfterEach
  void noProcessLeft() throws Exception {
    for (Thread t : threads) {
      t.interrupt();
    }
    for (DaemonClient c : clients) {
      c.close();
    }
    for (ServerSocketChannel g : gates) {
      g.close();
    }
    Fixtures.killMarked(dir());
  }

  private ServiceDefinition definition(String... daemonArgs) {
    List<String> args = new ArrayList<>(Arrays.asList(daemonArgs));
    args.add(Fixtures.marker(dir()));
    args.add("--lifetime=60");
    def = ServiceDefinition.builder("loop")
        .javaMain(LoopTestDaemon.class.getName(), args.toArray(new String[0]))
        .javaOptions(Fixtures.LIGHT_JVM)
        .runtimeDirectory(dir())
        .probeBudget(PATIENT)
        .build();
    return def;
  }

  private String log() {
    try {
      return java.nio.file.Files.readString(dir().resolve("loop.log"));
    } catch (IOException e) {
      return "(unreadable: " + e + ")";
    }
  }

  private DaemonClient client(ServiceDefinition d) {
    DaemonClient c = DaemonClient.create(broker, d, Duration.ofSeconds(30));
    clients.add(c);
    return c;
  }

  private static String call(DaemonClient c, String request) throws IOException {
    return c.call(request, Codec.utf8());
  }

  private static String call(DaemonClient c, String request, Duration deadline) throws IOException {
    return c.call(request, Codec.utf8(), Codec.utf8(), deadline);
  }

  /** A socket the daemon's {@code hold} and warm-up connect to; the test decides when they go on. */
  private Path gate(String name) throws IOException {
    Path path = tmp.resolve(name + ".sock");
    ServerSocketChannel g = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    g.bind(UnixDomainSocketAddress.of(path));
    gates.add(g);
    return path;
  }

  /** Waits for the daemon to arrive at {@code gate}; closing the returned channel lets it go on. */
  private SocketChannel arrival(Path gate) throws IOException {
    ServerSocketChannel g = gates.stream()
        .filter(s -> {
          try {
            return ((UnixDomainSocketAddress) s.getLocalAddress()).getPath().equals(gate);
          } catch (IOException e) {
            return false;
          }
        }).findFirst().orElseThrow();
    g.configureBlocking(false);
    try (Selector sel = Selector.open()) {
      g.register(sel, SelectionKey.OP_ACCEPT);
      long deadline = System.nanoTime() + PATIENT.toNanos();
      while (true) {
        SocketChannel c = g.accept();
        if (c != null) {
          c.configureBlocking(true);
          return c;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new AssertionError("nobody arrived at " + gate + " within " + PATIENT);
        }
        sel.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
        sel.selectedKeys().clear();
      }
    }
  }

  /** Runs {@code call} on a thread of its own; the future holds its answer or its exception. */
  private CompletableFuture<String> inBackground(DaemonClient c, String request) {
    CompletableFuture<String> f = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        f.complete(call(c, request));
      } catch (Throwable e) {
        f.completeExceptionally(e);
      }
    }, "test-call");
    t.start();
    threads.add(t);
    return f;
  }

  private static Throwable failure(CompletableFuture<?> f) throws Exception {
    ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(PATIENT.toSeconds(), TimeUnit.SECONDS));
    return e.getCause();
  }

  /** SIGKILL for the daemon of this test's directory, after checking it carries the marker. */
  private void kill9(long pid) {
    ProcessHandle h = ProcessHandle.of(pid).orElseThrow();
    assertTrue(h.info().arguments().map(a -> Arrays.asList(a).contains(Fixtures.marker(dir()))).orElse(false),
        "pid " + pid + " is not this test's daemon");
    h.destroyForcibly();
    Await.until(PATIENT, () -> !h.isAlive(), () -> "pid " + pid + " outlived SIGKILL");
  }

  @Test
  void aCallSpawnsTheDaemonAndLaterCallsReuseItsConnection() throws Exception {
    DaemonClient c = client(definition());
    assertEquals("hello", call(c, "echo hello"));
    DaemonInfo first = c.lastDaemon().orElseThrow();
    assertTrue(first.spawned(), "the first call spawned the daemon: " + first);
    for (int i = 0; i < 50; i++) {
      assertEquals("n" + i, call(c, "echo n" + i));
    }
    assertTrue(c.lastDaemon().orElseThrow() == first, "no new connection, so no new ensureRunning");
    assertEquals(Long.toString(first.pid()), call(c, "pid"));
    assertArrayEquals(new byte[0], c.call("echo ".getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void aHandlersFailureIsReportedAndTheConnectionStaysUsable() throws Exception {
    DaemonClient c = client(definition());
    CallFailedException e = assertThrows(CallFailedException.class, () -> call(c, "fail"));
    assertEquals("java.lang.IllegalStateException: the test asked for a failure", e.daemonText());
    assertTrue(e.mayHaveRun());
    assertFalse(e.protocolViolation());
    assertEquals("still here", call(c, "echo still here"));
  }

  @Test
  void theDaemonRunsNoMoreRequestsAtOnceThanItsBound() throws Exception {
    DaemonClient c = client(definition("--max-concurrency=2"));
    assertEquals("up", call(c, "echo up"));
    Path g = gate("bound");
    CompletableFuture<String> a = inBackground(c, "hold " + g);
    CompletableFuture<String> b = inBackground(c, "hold " + g);
    SocketChannel first = arrival(g);
    SocketChannel second = arrival(g);
    // Both slots are taken: a third request waits for one, past its own deadline.
    CallTimeoutException timeout = assertThrows(CallTimeoutException.class,
        () -> call(c, "echo third", Duration.ofMillis(700)));
    assertTrue(timeout.mayHaveRun(), "the request was sent; only the daemon knows whether it ran");
    assertTrue(timeout.getMessage().contains("deadline of 700 ms"), timeout.getMessage());
    first.close(); // whichever of the two holds arrived first goes on
    assertEquals("released", CompletableFuture.anyOf(a, b).get(PATIENT.toSeconds(), TimeUnit.SECONDS));
    assertEquals("fourth", call(c, "echo fourth", PATIENT), "a slot is free again");
    second.close();
    assertEquals("released", a.get(PATIENT.toSeconds(), TimeUnit.SECONDS));
    assertEquals("released", b.get(PATIENT.toSeconds(), TimeUnit.SECONDS));
  }

  @Test
  void aRequestDuringWarmUpWaitsForTheDaemonToBeReadyUnderTheWaitPolicy() throws Exception {
    Path g = gate("warm");
    DaemonClient c = client(definition("--warmup=wait", "--warm-gate=" + g));
    CompletableFuture<String> early = inBackground(c, "echo early");
    SocketChannel warming = arrival(g);
    ServiceStatus s = broker.status(def);
    assertInstanceOf(ServiceStatus.Running.class, s);
    assertFalse(((ServiceStatus.Running) s).ready(), "still warming: " + s);
    assertFalse(early.isDone(), "answered before the daemon was ready");
    warming.close();
    assertEquals("early", early.get(PATIENT.toSeconds(), TimeUnit.SECONDS));
  }

  @Test
  void aRequestDuringWarmUpIsAnsweredWarmingAtOnceUnderTheAnswerPolicy() throws Exception {
    Path g = gate("warm");
    DaemonClient c = client(definition("--warmup=answer", "--warm-gate=" + g));
    CompletableFuture<String> early = inBackground(c, "echo early");
    SocketChannel warming = arrival(g);
    Throwable e = failure(early);
    CallRefusedException refused = assertInstanceOf(CallRefusedException.class, e);
    assertEquals(CallRefusedException.Reason.WARMING, refused.reason());
    assertEquals(50, refused.progressPercent().getAsInt());
    assertEquals(Optional.of("waiting for the test"), refused.phase());
    assertFalse(refused.mayHaveRun());
    warming.close();
    String later = Await.value(PATIENT, () -> {
      try {
        return Optional.of(call(c, "echo later"));
      } catch (CallRefusedException r) {
        if (r.reason() != CallRefusedException.Reason.WARMING) {
          throw new AssertionError(r);
        }
        return Optional.empty();
      } catch (IOException other) {
        throw new AssertionError(other);
      }
    }, () -> "the daemon never left warm-up; its log:\n" + log());
    assertEquals("later", later);
  }

  @Test
  void anOversizedRequestIsRefusedWithTheLimitAndTheDaemonServesOn() throws Exception {
    DaemonClient c = client(definition("--max-payload=1024"));
    long pid = Long.parseLong(call(c, "pid"));
    byte[] big = new byte[256 * 1024]; // more than a socket buffer: the daemon closes while it is sent
    Arrays.fill(big, (byte) 'x');
    CallRefusedException e = assertThrows(CallRefusedException.class, () -> c.call(big));
    assertEquals(CallRefusedException.Reason.TOO_LARGE, e.reason());
    assertEquals(1024, e.limit().getAsInt());
    assertFalse(e.mayHaveRun());
    assertEquals(Long.toString(pid), call(c, "pid"), "the same daemon serves the next call");
  }

  @Test
  void aRequestInFlightWhenTheBrokerStopsTheDaemonIsAnsweredNotCutOff() throws Exception {
    DaemonClient c = client(definition("--grace-ms=20000"));
    long pid = Long.parseLong(call(c, "pid"));
    Path g = gate("drain");
    CompletableFuture<String> held = inBackground(c, "hold " + g);
    SocketChannel inside = arrival(g);
    CompletableFuture<StopResult> stop = new CompletableFuture<>();
    Thread stopper = new Thread(() -> {
      try {
        stop.complete(broker.stop(def, Duration.ofSeconds(30)));
      } catch (Throwable e) {
        stop.completeExceptionally(e);
      }
    }, "test-stop");
    stopper.start();
    threads.add(stopper);
    // Draining: a new client's request is refused, never run.
    DaemonClient other = client(def);
    CallRefusedException refused = Await.value(PATIENT, () -> {
      try {
        call(other, "echo before the drain");
        return Optional.empty();
      } catch (CallRefusedException e) {
        return Optional.of(e);
      } catch (IOException e) {
        throw new AssertionError(e);
      }
    }, () -> "the daemon never refused a request while stopping");
    assertEquals(CallRefusedException.Reason.SHUTTING_DOWN, refused.reason());
    assertFalse(stop.isDone(), "the stop waits for the drain");
    assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
    inside.close();
    assertEquals("released", held.get(PATIENT.toSeconds(), TimeUnit.SECONDS), "the request in flight is answered");
    StopResult result = stop.get(PATIENT.toSeconds(), TimeUnit.SECONDS);
    assertNotEquals(StopResult.NOT_RUNNING, result);
    Await.until(PATIENT, () -> ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true), () -> "pid " + pid + " lives");
  }

  @Test
  void kill9DuringACallFailsThatCallNamingTheDeathAndTheNextCallGetsANewDaemon() throws Exception {
    DaemonClient c = client(definition());
    long pid = Long.parseLong(call(c, "pid"));
    Path g = gate("kill");
    CompletableFuture<String> held = inBackground(c, "hold " + g);
    arrival(g);
    kill9(pid);
    DaemonDiedException died = assertInstanceOf(DaemonDiedException.class, failure(held));
    assertEquals(pid, died.pid().getAsLong());
    assertTrue(died.mayHaveRun());
    assertTrue(died.processGone(), died.getMessage());
    assertTrue(died.getMessage().contains("died during the call"), died.getMessage());
    assertTrue(died.getMessage().contains("pid " + pid + " is gone"), died.getMessage());
    // What the broker sees is a snapshot taken while the kernel tears the process down: usually stale,
    // at times the endpoint that has not yet stopped accepting. Either way it is reported.
    assertFalse(died.brokerView().isEmpty());
    assertTrue(died.getMessage().contains("the broker sees: " + died.brokerView()), died.getMessage());
    assertTrue(died.getMessage().contains("how it ended: the previous daemon (pid " + pid + ") ended: killed by SIGKILL"),
        "the client's error names the death: " + died.getMessage());
    long next = Long.parseLong(call(c, "pid"));
    assertNotEquals(pid, next, "served by a new daemon");
    assertTrue(c.lastDaemon().orElseThrow().spawned());
  }

  @Test
  void aDaemonWhoseServeThrowsRightAfterItsStartFailsTheCallWithTheReason() throws Exception {
    DaemonClient c = client(definition("--after-ready=throw"));
    IOException e = assertThrows(IOException.class, () -> call(c, "echo x"));
    assertTrue(e.getMessage().contains("the index is corrupt"), "the call's error names why the daemon died: " + e);
  }

  @Test
  void aDaemonWhoseServeReturnsRightAfterItsStartFailsTheCallWithTheReason() throws Exception {
    DaemonClient c = client(definition("--after-ready=return"));
    IOException e = assertThrows(IOException.class, () -> call(c, "echo x"));
    assertTrue(e.getMessage().contains("serve returned"), "the call's error names why the daemon died: " + e);
  }

  @Test
  void kill9BetweenCallsIsInvisibleToTheNextCallWhichNothingHadSent() throws Exception {
    DaemonClient c = client(definition());
    long pid = Long.parseLong(call(c, "pid")); // leaves an idle connection in the pool
    kill9(pid);
    long next = Long.parseLong(call(c, "pid"));
    assertNotEquals(pid, next, "the dead daemon's idle connection was dropped unused; a new daemon answered");
    assertTrue(c.lastDaemon().orElseThrow().spawned());
  }

  @Test
  void everyIdleConnectionOfADaemonThatStoppedIsDroppedUnusedByTheNextCall() throws Exception {
    DaemonClient c = client(definition());
    long pid = Long.parseLong(call(c, "pid"));
    Path g = gate("two");
    CompletableFuture<String> a = inBackground(c, "hold " + g);
    CompletableFuture<String> b = inBackground(c, "hold " + g);
    SocketChannel first = arrival(g);
    SocketChannel second = arrival(g);
    first.close();
    second.close();
    assertEquals("released", a.get(PATIENT.toSeconds(), TimeUnit.SECONDS));
    assertEquals("released", b.get(PATIENT.toSeconds(), TimeUnit.SECONDS)); // two idle connections now
    assertNotEquals(StopResult.NOT_RUNNING, broker.stop(def, Duration.ofSeconds(30))); // its drain closes both
    Await.until(PATIENT, () -> ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true), () -> "pid " + pid + " lives");
    long next = Long.parseLong(call(c, "pid"));
    assertNotEquals(pid, next, "both closed connections were dropped unused; a new daemon answered");
    assertTrue(c.lastDaemon().orElseThrow().spawned());
  }

  @Test
  void interruptingACallClosesItsConnectionAndFreesTheDaemonsSlot() throws Exception {
    DaemonClient c = client(definition("--max-concurrency=1"));
    assertEquals("up", call(c, "echo up"));
    Path g = gate("interrupt");
    CompletableFuture<Throwable> outcome = new CompletableFuture<>();
    CompletableFuture<Boolean> flagAfter = new CompletableFuture<>();
    Thread caller = new Thread(() -> {
      try {
        call(c, "hold " + g);
        outcome.complete(null);
      } catch (Throwable e) {
        outcome.complete(e);
      }
      flagAfter.complete(Thread.currentThread().isInterrupted());
    }, "test-interrupted-call");
    caller.start();
    threads.add(caller);
    SocketChannel inside = arrival(g);
    caller.interrupt();
    CallCancelledException e = assertInstanceOf(CallCancelledException.class,
        outcome.get(PATIENT.toSeconds(), TimeUnit.SECONDS));
    assertTrue(e.byInterrupt());
    assertTrue(flagAfter.get(PATIENT.toSeconds(), TimeUnit.SECONDS), "the interrupt flag is set again");
    // The daemon interrupted its handler, which closed its connection to the gate.
    inside.configureBlocking(true);
    int n;
    try {
      n = inside.read(ByteBuffer.allocate(64));
      while (n > 0) {
        n = inside.read(ByteBuffer.allocate(64));
      }
    } catch (IOException reset) {
      n = -1;
    }
    assertEquals(-1, n, "the handler ended when its client went");
    assertEquals("free", call(c, "echo free", PATIENT), "the only slot is free again");
  }

  // --- RetryPolicy: the caller's optional retries, on real daemons ---

  private static String call(DaemonClient c, String request, Duration deadline, RetryPolicy retry) throws IOException {
    return c.call(request, Codec.utf8(), Codec.utf8(), deadline, retry);
  }

  /** Runs a call with {@code retry} on a thread of its own; the future holds its answer or its exception. */
  private CompletableFuture<String> inBackground(DaemonClient c, String request, RetryPolicy retry, Thread[] thread) {
    CompletableFuture<String> f = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        f.complete(call(c, request, PATIENT, retry));
      } catch (Throwable e) {
        f.completeExceptionally(e);
      }
    }, "test-retried-call");
    t.start();
    threads.add(t);
    if (thread != null) {
      thread[0] = t;
    }
    return f;
  }

  @Test
  void aWarmingRefusalIsTriedAgainUntilTheDaemonIsReady() throws Exception {
    Path g = gate("warm");
    DaemonClient c = client(definition("--warmup=answer", "--warm-gate=" + g));
    CompletableFuture<String> probe = inBackground(c, "echo early");
    SocketChannel warming = arrival(g);
    assertInstanceOf(CallRefusedException.class, failure(probe), "without a policy the refusal is thrown");
    // Two attempts, no pause: both refused, the last thrown with the first attached.
    CallRefusedException twice = assertThrows(CallRefusedException.class, () -> call(c, "echo twice", PATIENT,
        RetryPolicy.builder().maxAttempts(2).backoff(Duration.ZERO, Duration.ZERO).build()));
    assertEquals(CallRefusedException.Reason.WARMING, twice.reason());
    assertEquals(1, twice.getSuppressed().length, "the first attempt's refusal is attached");
    assertInstanceOf(CallRefusedException.class, twice.getSuppressed()[0]);

    RetryPolicy patient = RetryPolicy.builder().maxAttempts(RetryPolicy.MAX_ATTEMPTS)
        .backoff(Duration.ofMillis(10), Duration.ofMillis(50)).build();
    Thread[] caller = new Thread[1];
    CompletableFuture<String> retried = inBackground(c, "echo later", patient, caller);
    awaitPause(caller[0]); // refused once at least

    warming.close();
    assertEquals("later", retried.get(PATIENT.toSeconds(), TimeUnit.SECONDS), "answered once the daemon was ready");
  }

  @Test
  void aDaemonKilledDuringAnIdempotentCallIsReplacedAndTheCallAnsweredByTheNewOne() throws Exception {
    DaemonClient c = client(definition());
    long pid = Long.parseLong(call(c, "pid"));
    Path g = gate("kill");
    RetryPolicy idempotent = RetryPolicy.builder().retry(RetryPolicy.Retryable.IDEMPOTENT)
        .backoff(Duration.ofMillis(10), Duration.ofMillis(100)).build();
    CompletableFuture<String> held = inBackground(c, "hold " + g, idempotent, null);
    arrival(g);
    kill9(pid);
    SocketChannel again = arrival(g); // the same request, sent again to a new daemon
    again.close();
    assertEquals("released", held.get(PATIENT.toSeconds(), TimeUnit.SECONDS));
    DaemonInfo now = c.lastDaemon().orElseThrow();
    assertNotEquals(pid, now.pid(), "answered by a new daemon");
    assertTrue(now.spawned());
  }

  @Test
  void aDaemonKilledDuringACallIsNotTriedAgainWhenTheRequestMayHaveRun() throws Exception {
    DaemonClient c = client(definition());
    long pid = Long.parseLong(call(c, "pid"));
    Path g = gate("kill");
    CompletableFuture<String> held = inBackground(c, "hold " + g,
        RetryPolicy.builder().maxAttempts(5).backoff(Duration.ZERO, Duration.ZERO).build(), null);
    arrival(g);
    kill9(pid);
    DaemonDiedException died = assertInstanceOf(DaemonDiedException.class, failure(held));
    assertTrue(died.mayHaveRun());
    assertEquals(0, died.getSuppressed().length, "one attempt only");
    assertEquals(pid, died.pid().getAsLong());
  }

  @Test
  void aHandlersFailureIsNeverTriedAgain() throws Exception {
    DaemonClient c = client(definition());
    RetryPolicy any = RetryPolicy.builder().maxAttempts(5).retry(RetryPolicy.Retryable.IDEMPOTENT)
        .backoff(Duration.ZERO, Duration.ZERO).build();
    CallFailedException e = assertThrows(CallFailedException.class, () -> call(c, "fail", PATIENT, any));
    assertEquals(0, e.getSuppressed().length, "one attempt only: " + Arrays.toString(e.getSuppressed()));
    assertEquals("ok", call(c, "echo ok", PATIENT, any), "the daemon serves on");
  }

  @Test
  void theDeadlineCoversEveryAttemptAndPause() throws Exception {
    Path g = gate("warm");
    DaemonClient c = client(definition("--warmup=answer", "--warm-gate=" + g));
    broker.ensureRunning(def);
    arrival(g); // warming until the test ends
    RetryPolicy many = RetryPolicy.builder().maxAttempts(RetryPolicy.MAX_ATTEMPTS)
        .backoff(Duration.ofMillis(100), Duration.ofMillis(200)).build();
    long start = System.nanoTime();
    CallRefusedException e = assertThrows(CallRefusedException.class,
        () -> call(c, "echo never", Duration.ofSeconds(1), many));
    long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertEquals(CallRefusedException.Reason.WARMING, e.reason());
    assertEquals(1, e.getSuppressed().length, "several attempts were made");
    assertTrue(tookMillis < 1000 + 5000, "the call ended near its 1 s deadline, not after 100 attempts: " + tookMillis);
  }

  /** A call to a daemon warming up for good, refused once and now in its 2.5-5 s pause before the second attempt. */
  private record Paused(DaemonClient client, Thread caller, CompletableFuture<String> call) {}

  private Paused aCallPausedBetweenAttempts() throws Exception {
    Path g = gate("warm");
    DaemonClient c = client(definition("--warmup=answer", "--warm-gate=" + g));
    broker.ensureRunning(def);
    arrival(g);
    Thread[] caller = new Thread[1];
    CompletableFuture<String> f = inBackground(c, "echo never",
        RetryPolicy.builder().maxAttempts(2).backoff(Duration.ofSeconds(5), Duration.ofSeconds(5)).build(), caller);
    awaitPause(caller[0]);
    return new Paused(c, caller[0], f);
  }

  /** Waits until {@code caller} waits between two attempts: a blocking socket read is RUNNABLE, the pause TIMED_WAITING. */
  private static void awaitPause(Thread caller) {
    Await.until(PATIENT, () -> caller.getState() == Thread.State.TIMED_WAITING,
        () -> "the call never paused between attempts; it is " + caller.getState());
  }

  @Test
  void anInterruptDuringAPauseEndsTheCall() throws Exception {
    Paused p = aCallPausedBetweenAttempts();
    CompletableFuture<String> f = p.call();
    p.caller().interrupt();
    CallCancelledException e = assertInstanceOf(CallCancelledException.class, failure(f));
    assertTrue(e.byInterrupt());
    assertFalse(e.mayHaveRun(), "a refused request did not run");
    assertInstanceOf(CallRefusedException.class, e.getSuppressed()[0], "the refusal that led to the pause");
  }

  @Test
  void closingTheClientEndsACallWaitingToTryAgain() throws Exception {
    Paused p = aCallPausedBetweenAttempts();
    CompletableFuture<String> f = p.call();
    long start = System.nanoTime();
    p.client().close();
    CallCancelledException e = assertInstanceOf(CallCancelledException.class, failure(f));
    assertFalse(e.byInterrupt());
    assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 2000,
        "ended at the close, not after the 2.5-5 s pause");
  }

  @Test
  void aRetriedCallSaysItMayHaveRunWhenAnEarlierAttemptMayHave() throws Exception {
    Path warm = gate("warm");
    DaemonClient c = client(definition("--warmup=answer", "--warm-gate=" + warm));
    broker.ensureRunning(def);
    arrival(warm).close(); // the first daemon is ready
    long pid = Long.parseLong(call(c, "pid"));
    Path hold = gate("hold");
    RetryPolicy twice = RetryPolicy.builder().maxAttempts(2).retry(RetryPolicy.Retryable.IDEMPOTENT)
        .backoff(Duration.ZERO, Duration.ZERO).build();
    CompletableFuture<String> held = inBackground(c, "hold " + hold, twice, null);
    arrival(hold);
    kill9(pid); // attempt 1 dies with the request in the handler: it may have run
    SocketChannel warming = arrival(warm); // attempt 2's fresh daemon warms up, and refuses
    CallRefusedException refused = assertInstanceOf(CallRefusedException.class, failure(held));
    assertEquals(CallRefusedException.Reason.WARMING, refused.reason());
    assertTrue(refused.mayHaveRun(), "the first attempt may have run the request");
    assertInstanceOf(DaemonDiedException.class, refused.getSuppressed()[0]);
    warming.close();
  }
}
