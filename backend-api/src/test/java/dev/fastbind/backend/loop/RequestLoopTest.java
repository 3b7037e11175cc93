package dev.fastbind.backend.loop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.wire.LoopFrames;
import dev.fastbind.testsupport.Await;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.AFUNIXSocketChannel;

/**
 * The request loop in this JVM, on a real listener and real Unix-domain connections: frames, order,
 * bounded concurrency, warm-up, limits, cancellation and drain. The broker's {@code DaemonClientTest}
 * runs it in spawned daemons.
 */
class RequestLoopTest {
  private static final Duration PATIENT = Duration.ofSeconds(10);

  @TempDir Path dir;

  private final List<AutoCloseable> toClose = new ArrayList<>();
  private final List<Thread> servers = new ArrayList<>();
  private final Context context = new Context();

  @AfterEach
  void closeEverything() throws Exception {
    for (AutoCloseable c : toClose) {
      c.close();
    }
    for (Thread t : servers) {
      t.interrupt();
    }
  }

  /** A ServeContext that records readiness and keeps the shutdown actions for the test to run. */
  static final class Context implements ServeContext {
    final List<Runnable> shutdown = new CopyOnWriteArrayList<>();
    volatile boolean ready;

    @Override
    public String service() {
      return "loop-test";
    }

    @Override
    public String version() {
      return "1";
    }

    @Override
    public String instanceId() {
      return "0".repeat(32);
    }

    @Override
    public List<String> arguments() {
      return List.of();
    }

    @Override
    public void progress(int percent, String phase) {}

    @Override
    public void ready() {
      ready = true;
    }

    @Override
    public boolean isReady() {
      return ready;
    }

    @Override
    public void onShutdown(Runnable action) {
      shutdown.add(action);
    }

    final java.util.concurrent.atomic.AtomicInteger busy = new java.util.concurrent.atomic.AtomicInteger();

    @Override
    public ServeContext.Busy busy() {
      busy.incrementAndGet();
      java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
      return () -> {
        if (closed.compareAndSet(false, true)) {
          busy.decrementAndGet();
        }
      };
    }

    @Override
    public void touch() {}

    @Override
    public void requestShutdown(String reason) {
      throw new UnsupportedOperationException("not in this test");
    }

    void runShutdown() {
      for (Runnable r : shutdown) {
        r.run();
      }
    }
  }

  private IpcListener listener() throws Exception {
    IpcListener l = IpcListener.bind(Endpoint.unixPath(dir.resolve("loop.sock")));
    toClose.add(l);
    return l;
  }

  /** The builder every test starts from; {@link RequestLoopOnVirtualThreadsTest} asks for virtual threads. */
  RequestLoop.Builder builder() {
    return RequestLoop.builder();
  }

  /** Whether {@link #builder()}'s loops run on virtual threads on this JDK. */
  boolean expectVirtualThreads() {
    return false;
  }

  private RequestLoop start(RequestLoop.Builder builder, IpcListener l) throws Exception {
    return builder.start(l, context);
  }

  /** Runs {@code loop.serve(handler)} on a thread of its own, as a daemon's serve would. */
  private CompletableFuture<Throwable> serve(RequestLoop loop, Handler handler) {
    CompletableFuture<Throwable> ended = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        loop.serve(handler);
      } catch (Throwable e) {
        ended.complete(e);
      }
    }, "test-serve");
    t.setDaemon(true);
    t.start();
    servers.add(t);
    return ended;
  }

  private SocketChannel connect(IpcListener l) throws IOException {
    SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
    c.connect(UnixDomainSocketAddress.of(l.endpoint().path().orElseThrow()));
    toClose.add(c);
    return c;
  }

  private static void send(SocketChannel c, String text) throws IOException {
    ByteBuffer f = LoopFrames.frame(LoopFrames.REQUEST, text.getBytes(StandardCharsets.UTF_8));
    while (f.hasRemaining()) {
      c.write(f);
    }
  }

  /** A reply frame: its kind and payload. */
  record Reply(byte kind, byte[] payload) {
    String text() {
      return new String(payload, StandardCharsets.UTF_8);
    }
  }

  private static Reply read(SocketChannel c) throws IOException {
    ByteBuffer h = ByteBuffer.allocate(LoopFrames.HEADER_BYTES);
    readFully(c, h);
    ByteBuffer body = ByteBuffer.allocate((int) LoopFrames.payloadLength(h));
    readFully(c, body);
    return new Reply(LoopFrames.kind(h), body.array());
  }

  private static void readFully(SocketChannel c, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (c.read(b) < 0) {
        throw new EOFException("the loop closed the connection with " + b.remaining() + " bytes of a frame missing");
      }
    }
  }

  /** The loop closed {@code c}: an end of stream, or a reset where the loop left bytes unread. */
  private static void assertClosed(SocketChannel c) {
    try {
      assertEquals(-1, c.read(ByteBuffer.allocate(1)), "expected the connection to be closed");
    } catch (IOException reset) {
      assertTrue(String.valueOf(reset.getMessage()).contains("reset"), reset.toString());
    }
  }

  private static Reply call(SocketChannel c, String text) throws IOException {
    send(c, text);
    return read(c);
  }

  private static final Handler ECHO = (request, ctx) -> request;

  @Test
  void answersEveryRequestOnAConnectionInOrderEvenWhenTheyArePipelined() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder(), l);
    serve(loop, ECHO);
    SocketChannel c = connect(l);
    for (int i = 0; i < 20; i++) {
      send(c, "request " + i); // all sent before any answer is read
    }
    for (int i = 0; i < 20; i++) {
      Reply r = read(c);
      assertEquals(LoopFrames.RESPONSE, r.kind());
      assertEquals("request " + i, r.text());
    }
    assertTrue(context.ready, "serve(handler) marks the daemon ready");
    assertEquals(LoopFrames.RESPONSE, call(c, "").kind(), "an empty request is a request");
  }

  @Test
  void aRequestSentOneByteAtATimeIsAnsweredWhole() throws Exception {
    IpcListener l = listener();
    serve(start(builder(), l), ECHO);
    SocketChannel c = connect(l);
    ByteBuffer f = LoopFrames.frame(LoopFrames.REQUEST, "trickled".getBytes(StandardCharsets.UTF_8));
    while (f.hasRemaining()) {
      c.write(ByteBuffer.wrap(new byte[] {f.get()}));
    }
    assertEquals("trickled", read(c).text());
  }

  @Test
  void runsNoMoreHandlersAtOnceThanItsBound() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder().maxConcurrency(2), l);
    AtomicInteger running = new AtomicInteger();
    AtomicInteger most = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    serve(loop, (request, ctx) -> {
      most.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        release.await();
      } finally {
        running.decrementAndGet();
      }
      return request;
    });
    List<SocketChannel> clients = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      SocketChannel c = connect(l);
      send(c, "hold " + i);
      clients.add(c);
    }
    // All five are received (in flight), two run: the other three wait for a slot.
    Await.until(PATIENT, () -> loop.activity() instanceof Activity.Busy b && b.inFlight() == 5 && most.get() == 2,
        () -> "expected 5 requests in flight and 2 running, got " + loop.activity() + " and " + running.get());
    assertEquals(2, running.get());
    release.countDown();
    for (SocketChannel c : clients) {
      assertEquals(LoopFrames.RESPONSE, read(c).kind());
    }
    assertEquals(2, most.get(), "never more than the bound, also while the queue emptied");
  }

  @Test
  void holdsRequestsThatArriveWhileWarmingUntilTheHandlerIsGiven() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder(), l);
    SocketChannel c = connect(l);
    send(c, "early");
    Await.until(PATIENT, () -> loop.activity() instanceof Activity.Busy b && b.inFlight() == 1,
        () -> "the early request was not received: " + loop.activity());
    c.configureBlocking(false);
    assertEquals(0, c.read(ByteBuffer.allocate(1)), "no answer while warming under WAIT");
    c.configureBlocking(true);
    assertFalse(context.ready);
    serve(loop, ECHO);
    assertEquals("early", read(c).text());
    assertTrue(context.ready);
  }

  @Test
  void answersWarmingAtOnceUnderThatPolicyAndServesTheSameConnectionOnceReady() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder().warmup(WarmupPolicy.ANSWER_WARMING), l);
    SocketChannel c = connect(l);
    Reply warming = call(c, "early");
    assertEquals(LoopFrames.WARMING, warming.kind());
    serve(loop, ECHO);
    Await.until(PATIENT, () -> context.ready, () -> "serve(handler) did not mark the daemon ready");
    assertEquals("later", call(c, "later").text(), "the connection stays usable after WARMING");
  }

  @Test
  void answersAnOversizedFrameWithItsLimitClosesThatConnectionAndServesOthers() throws Exception {
    IpcListener l = listener();
    serve(start(builder().maxPayloadBytes(1024), l), ECHO);
    SocketChannel big = connect(l);
    ByteBuffer header = ByteBuffer.allocate(LoopFrames.HEADER_BYTES).putInt(-1).put(LoopFrames.REQUEST).flip();
    big.write(header); // announces 4 GiB - 1; the payload never follows
    Reply r = read(big);
    assertEquals(LoopFrames.TOO_LARGE, r.kind());
    assertEquals(1024, LoopFrames.tooLargeLimit(r.payload()));
    assertTrue(LoopFrames.tooLargeText(r.payload()).contains("4294967295"), LoopFrames.tooLargeText(r.payload()));
    assertEquals(-1, big.read(ByteBuffer.allocate(1)), "the connection is closed after TOO_LARGE");
    SocketChannel just = connect(l);
    assertEquals("x".repeat(1024), call(just, "x".repeat(1024)).text(), "exactly the limit is served");
  }

  @Test
  void answersAFrameOfAnUnknownKindWithMalformedAndCloses() throws Exception {
    IpcListener l = listener();
    serve(start(builder(), l), ECHO);
    SocketChannel c = connect(l);
    c.write(LoopFrames.frame((byte) 0x7f, new byte[3]));
    Reply r = read(c);
    assertEquals(LoopFrames.MALFORMED, r.kind());
    assertTrue(r.text().contains("0x7f"), r.text());
    // Its three payload bytes were never read, so the kernel reports the close as a reset.
    assertClosed(c);
  }

  @Test
  void answersAHandlersFailureWithItsErrorAndKeepsTheConnection() throws Exception {
    IpcListener l = listener();
    serve(start(builder(), l), (request, ctx) -> {
      if (new String(request, StandardCharsets.UTF_8).equals("fail")) {
        throw new IllegalStateException("index corrupt");
      }
      return request;
    });
    SocketChannel c = connect(l);
    Reply r = call(c, "fail");
    assertEquals(LoopFrames.ERROR, r.kind());
    assertEquals("java.lang.IllegalStateException: index corrupt", r.text());
    assertEquals("fine", call(c, "fine").text());
  }

  @Test
  void interruptsTheHandlerWhenItsClientGoesAwayAndFreesTheSlot() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder().maxConcurrency(1), l);
    CountDownLatch entered = new CountDownLatch(1);
    CompletableFuture<Boolean> cancelledSeen = new CompletableFuture<>();
    serve(loop, (request, ctx) -> {
      if (new String(request, StandardCharsets.UTF_8).equals("hold")) {
        entered.countDown();
        try {
          new CountDownLatch(1).await();
        } catch (InterruptedException e) {
          cancelledSeen.complete(ctx.isCancelled());
          throw e;
        }
      }
      return request;
    });
    SocketChannel gone = connect(l);
    send(gone, "hold");
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    gone.close();
    assertTrue(cancelledSeen.get(10, TimeUnit.SECONDS), "the handler is interrupted and sees isCancelled");
    assertEquals("next", call(connect(l), "next").text(), "the one slot is free again");
  }

  @Test
  void drainAnswersTheRequestInFlightRefusesNewOnesAndTellsIdleConnections() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder().drainGrace(Duration.ofSeconds(20)), l);
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Throwable> served = serve(loop, (request, ctx) -> {
      if (new String(request, StandardCharsets.UTF_8).equals("slow")) {
        entered.countDown();
        release.await();
      }
      return request;
    });
    SocketChannel idle = connect(l);
    assertEquals("warm", call(idle, "warm").text());
    SocketChannel busy = connect(l);
    send(busy, "slow");
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    Thread drain = new Thread(context::runShutdown, "test-drain");
    drain.start();
    // The idle connection is told, unasked, and closed.
    Reply told = read(idle);
    assertEquals(LoopFrames.REFUSED, told.kind());
    assertTrue(told.text().contains("shutting down"), told.text());
    assertEquals(-1, idle.read(ByteBuffer.allocate(1)));
    // A new connection's request is refused: it did not run.
    Reply refused = call(connect(l), "late");
    assertEquals(LoopFrames.REFUSED, refused.kind());
    // A new connection that sends nothing is told too, like an idle one.
    assertEquals(LoopFrames.REFUSED, read(connect(l)).kind());
    assertTrue(drain.isAlive(), "the drain waits for the request in flight");
    release.countDown();
    Reply answered = read(busy);
    assertEquals(LoopFrames.RESPONSE, answered.kind());
    assertEquals("slow", answered.text());
    drain.join(TimeUnit.SECONDS.toMillis(10));
    assertFalse(drain.isAlive(), "the drain ends once nothing is in flight");
    Throwable ended = served.get(10, TimeUnit.SECONDS);
    assertInstanceOf(IOException.class, ended);
    assertTrue(ended.getMessage().contains("shut down"), ended.getMessage());
  }

  @Test
  void drainCutsOffWhatStillRunsAtTheEndOfItsGrace() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder().drainGrace(Duration.ofMillis(200)), l);
    CountDownLatch entered = new CountDownLatch(1);
    serve(loop, (request, ctx) -> {
      entered.countDown();
      new CountDownLatch(1).await(); // never returns on its own
      return request;
    });
    SocketChannel c = connect(l);
    send(c, "forever");
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    long start = System.nanoTime();
    context.runShutdown();
    assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "the drain is bounded by its grace");
    assertThrows(EOFException.class, () -> read(c), "a request cut off gets no answer");
  }

  @Test
  void reportsActivityBusyWhileAConnectionIsOpenAndIdleAfter() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder(), l);
    serve(loop, ECHO);
    assertInstanceOf(Activity.Idle.class, loop.activity());
    SocketChannel c = connect(l);
    assertEquals("x", call(c, "x").text());
    // The request counts as in flight until its answer is written, which is just after the client has it.
    Await.until(PATIENT, () -> loop.activity() instanceof Activity.Busy b && b.inFlight() == 0,
        () -> "the answered request is still in flight: " + loop.activity());
    Activity busy = loop.activity();
    assertEquals(new Activity.Busy(1, 0, ((Activity.Busy) busy).since()), busy, "open, nothing in flight");
    assertEquals(1, context.busy.get(), "the daemon's idle clock sees the loop busy");
    c.close();
    Await.until(PATIENT, () -> loop.activity() instanceof Activity.Idle,
        () -> "still busy after the only connection closed: " + loop.activity());
    assertEquals(0, context.busy.get(), "and idle again");
    Duration first = loop.activity().since();
    Await.until(PATIENT, () -> loop.activity().since().compareTo(first) > 0, () -> "idle time does not grow");
  }

  @Test
  void tellsTheHandlerThePeersUidOnASocketPath() throws Exception {
    IpcListener l = listener();
    serve(start(builder(), l), (request, ctx) ->
        (ctx.peerPid() + " " + ctx.peerUid() + " " + ctx.connectionId()).getBytes(StandardCharsets.UTF_8));
    assertEquals("OptionalLong.empty OptionalLong[" + ProcessIdentity.currentUid() + "] 1",
        call(connect(l), "who").text(), "the JDK's channels report the user but not the pid");
  }

  @Test
  void tellsTheHandlerThePeersPidAndUidOnAnAbstractEndpoint() throws Exception {
    IpcListener l = IpcListener.bind(Endpoint.abstractName("fastbind-loop-test-" + UUID.randomUUID()));
    toClose.add(l);
    serve(start(builder(), l), (request, ctx) ->
        (ctx.peerPid().getAsLong() + " " + ctx.peerUid().getAsLong()).getBytes(StandardCharsets.UTF_8));
    try (AFUNIXSocketChannel c = AFUNIXSocketChannel.open()) {
      c.connect(AFUNIXSocketAddress.inAbstractNamespace(l.endpoint().abstractName().orElseThrow()));
      send(c, "who");
      assertEquals(ProcessHandle.current().pid() + " " + ProcessIdentity.currentUid(), read(c).text());
    }
  }

  @Test
  void runsHandlersOnPlatformThreadsUnlessVirtualOnesAreAskedForAndTheJdkHasThem() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder(), l);
    serve(loop, (request, ctx) -> {
      Thread t = Thread.currentThread();
      boolean virtual = Runtime.version().feature() >= 19 && (Boolean) Thread.class.getMethod("isVirtual").invoke(t);
      return (virtual + " " + t.getName()).getBytes(StandardCharsets.UTF_8);
    });
    assertEquals(expectVirtualThreads(), loop.usesVirtualThreads());
    String answer = call(connect(l), "which").text();
    assertTrue(answer.startsWith(expectVirtualThreads() + " fastbind-loop-"), answer);
  }

  @Test
  void aClientThatLeavesWhileItsRequestWaitsForASlotNeverHasItRun() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder().maxConcurrency(1), l);
    List<String> ran = new CopyOnWriteArrayList<>();
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    serve(loop, (request, ctx) -> {
      String text = new String(request, StandardCharsets.UTF_8);
      ran.add(text);
      if (text.equals("hold")) {
        entered.countDown();
        release.await();
      }
      return request;
    });
    SocketChannel holder = connect(l);
    send(holder, "hold");
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    SocketChannel leaver = connect(l);
    send(leaver, "queued");
    Await.until(PATIENT, () -> loop.activity() instanceof Activity.Busy b && b.inFlight() == 2,
        () -> "the queued request was not received: " + loop.activity());
    leaver.close();
    // A helper reads the leaver's socket in place of its waiting thread and sees the end of stream.
    Await.until(PATIENT, () -> loop.activity() instanceof Activity.Busy b && b.inFlight() == 1 && b.connections() == 1,
        () -> "the queued request of a client that left is still in flight: " + loop.activity());
    release.countDown();
    assertEquals("hold", read(holder).text());
    assertEquals("after", call(holder, "after").text());
    assertEquals(List.of("hold", "after"), ran, "the request whose client left never ran");
  }

  @Test
  void aRequestPipelinedBehindASlowOneIsReadMeanwhileAndAnsweredAfterIt() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder(), l);
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    serve(loop, (request, ctx) -> {
      if (new String(request, StandardCharsets.UTF_8).equals("slow")) {
        entered.countDown();
        release.await();
      }
      return request;
    });
    SocketChannel c = connect(l);
    send(c, "slow");
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    send(c, "next");
    Await.until(PATIENT, () -> loop.helpersSent() == 1, () -> "no helper read while the handler was away");
    release.countDown();
    assertEquals("slow", read(c).text());
    assertEquals("next", read(c).text());
    assertEquals("again", call(c, "again").text(), "the connection is served on, by one thread or the other");
  }

  @Test
  void acceptsNoMoreConnectionsThanItsBoundUntilOneCloses() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = start(builder().maxConnections(1), l);
    serve(loop, (request, ctx) -> {
      Activity a = loop.activity();
      return (ctx.connectionId() + " " + (a instanceof Activity.Busy b ? b.connections() : 0))
          .getBytes(StandardCharsets.UTF_8);
    });
    SocketChannel first = connect(l);
    assertEquals("1 1", call(first, "a").text());
    SocketChannel second = connect(l); // the kernel queues it in the listener's backlog
    send(second, "b");
    for (int i = 0; i < 3; i++) {
      assertEquals("1 1", call(first, "a").text(), "the second connection was accepted beyond the bound");
    }
    first.close();
    assertEquals("2 1", read(second).text(), "accepted once the first closed");
  }

  @Test
  void typedHandlersDecodeAndEncodeWithTheirCodecs() throws Exception {
    IpcListener l = listener();
    serve(start(builder(), l),
        Handler.of(Codec.utf8(), Codec.utf8(), (String q, RequestContext ctx) -> q.toUpperCase(java.util.Locale.ROOT)));
    SocketChannel c = connect(l);
    assertEquals("CAFÉ", call(c, "café").text());
    c.write(LoopFrames.frame(LoopFrames.REQUEST, new byte[] {(byte) 0xC3}));
    Reply bad = read(c);
    assertEquals(LoopFrames.ERROR, bad.kind());
    assertTrue(bad.text().contains("cannot decode the request with Codec.utf8()"), bad.text());
    assertArrayEquals(new byte[] {1, 2}, Codec.bytes().decode(Codec.bytes().encode(new byte[] {1, 2})));
  }
}
