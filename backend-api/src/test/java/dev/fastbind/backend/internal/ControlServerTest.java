package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.ControlFrames;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.ControlProtocolException;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.wire.ControlFrames.Reply;
import dev.fastbind.testsupport.Await;
import io.netty.buffer.Unpooled;
import java.io.EOFException;
import java.io.IOException;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ControlServerTest {

  private static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(5);
  private static final Duration WAIT = Duration.ofSeconds(5);

  @TempDir Path dir;

  private Endpoint endpoint;
  private TestHandler handler;
  private ControlServer server;
  private final List<RawPeer> peers = new ArrayList<>();

  @BeforeEach
  void setUp() throws Exception {
    endpoint = Endpoint.unixPath(dir.resolve("control.sock"));
    handler = new TestHandler();
  }

  @AfterEach
  void tearDown() {
    peers.forEach(RawPeer::close);
    if (server != null) {
      server.close();
    }
  }

  private ControlServer start(ControlServer.Options options) throws IOException {
    server = ControlServer.start(IpcListener.bind(endpoint), handler, options);
    return server;
  }

  private ControlServer start() throws IOException {
    return start(ControlServer.Options.defaults());
  }

  private RawPeer peer() throws IOException {
    RawPeer p = RawPeer.connect(endpoint);
    peers.add(p);
    return p;
  }

  @Test
  void helloShowsWarmingWithProgressThenReadyAfterTheHandlerChangesState() throws Exception {
    start();
    handler.state = DaemonState.WARMING;
    handler.progress = 40;
    handler.phase = Optional.of("loading index");

    HelloReply warming = ControlClient.hello(endpoint, CLIENT_TIMEOUT);
    assertEquals(new HelloReply("svc", "1.0", ProcessHandle.current().pid(), "inst-1", DaemonState.WARMING, 40,
        Optional.of("loading index")), warming);

    handler.state = DaemonState.READY;
    handler.progress = 100;
    handler.phase = Optional.empty();
    HelloReply ready = ControlClient.hello(endpoint, CLIENT_TIMEOUT);
    assertEquals(DaemonState.READY, ready.state());
    assertEquals(100, ready.progressPercent());
    assertEquals(Optional.empty(), ready.phase());
  }

  @Test
  void statusHasHelloFieldsCountersAndTheHandlersFieldsButNotItsCollidingOnes() throws Exception {
    start();
    ControlClient.hello(endpoint, CLIENT_TIMEOUT);
    handler.extra = Map.of("cache.entries", "42", "pid", "999999");

    Map<String, String> status = ControlClient.status(endpoint, CLIENT_TIMEOUT);

    assertEquals("svc", status.get("service"));
    assertEquals("inst-1", status.get("instance-id"));
    assertEquals(Long.toString(ProcessHandle.current().pid()), status.get("pid"), "built-in pid wins");
    assertEquals("42", status.get("cache.entries"));
    assertTrue(Long.parseLong(status.get("uptime-ms")) >= 0);
    assertEquals("2", status.get("connections-served"), "the HELLO connection and this one");
    assertEquals("0", status.get("connections-rejected"));
    assertEquals("0", status.get("connections-cut"));
    assertEquals("0", status.get("connections-malformed"));
    assertEquals("0", status.get("peers-rejected"));
    for (String key : List.of("connections-open", "requests", "protocol", "version", "state", "progress")) {
      assertTrue(status.containsKey(key), key + " in " + status);
    }
  }

  @Test
  void shutdownRepliesOkBeforeTheShutdownActionFinishesAndInvokesItExactlyOnce() throws Exception {
    start();
    handler.blockShutdown = new CountDownLatch(1);

    ControlClient.shutdown(endpoint, CLIENT_TIMEOUT); // returns although the action is still blocked
    assertTrue(handler.shutdownStarted.await(WAIT.toMillis(), TimeUnit.MILLISECONDS), "shutdown action invoked");
    ControlClient.shutdown(endpoint, CLIENT_TIMEOUT); // a repeated request is acknowledged too
    assertEquals(DaemonState.WARMING, ControlClient.hello(endpoint, CLIENT_TIMEOUT).state(), "still answering");

    handler.blockShutdown.countDown();
    server.close();
    joinServerThreads(server);
    assertEquals(1, handler.shutdownCalls.get());
  }

  @Test
  void unknownCommandGetsAnErrReplyAndTheConnectionStaysUsable() throws Exception {
    start();
    RawPeer p = peer();
    p.send(ControlFrames.encodeFrame("REBOOT\n"));
    Reply err = Reply.parse(p.readFrame(WAIT));
    assertFalse(err.ok());
    assertTrue(err.error().startsWith("unknown command 'REBOOT%0A'"), err.error());

    p.send(ControlFrames.encodeFrame("HELLO"));
    Reply ok = Reply.parse(p.readFrame(WAIT));
    assertEquals("svc", HelloReply.fromFields(ok.fields()).service());

    Reply viaClient = ControlClient.exchange(endpoint, "hello", CLIENT_TIMEOUT);
    assertFalse(viaClient.ok(), "commands are case-sensitive");
  }

  @Test
  void requestSentOneByteAtATimeAndPipelinedRequestsAreAnswered() throws Exception {
    start();
    RawPeer p = peer();
    for (byte b : toBytes(ControlFrames.encodeFrame("HELLO"))) {
      p.send(new byte[] {b});
    }
    assertTrue(Reply.parse(p.readFrame(WAIT)).ok());

    byte[] two = concat(toBytes(ControlFrames.encodeFrame("HELLO")), toBytes(ControlFrames.encodeFrame("STATUS")));
    p.send(two);
    assertTrue(Reply.parse(p.readFrame(WAIT)).fields().containsKey("instance-id"));
    assertTrue(Reply.parse(p.readFrame(WAIT)).fields().containsKey("uptime-ms"));
  }

  @Test
  void oversizedLengthPrefixClosesThatConnectionAndAFreshClientIsServed() throws Exception {
    assertMalformedInputClosesConnection(Unpooled.buffer().writeInt(ControlFrames.MAX_FRAME_BYTES + 1).array());
  }

  @Test
  void negativeLengthPrefixClosesThatConnectionAndAFreshClientIsServed() throws Exception {
    assertMalformedInputClosesConnection(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xfe});
  }

  @Test
  void zeroLengthPrefixClosesThatConnectionAndAFreshClientIsServed() throws Exception {
    assertMalformedInputClosesConnection(new byte[] {0, 0, 0, 0});
  }

  @Test
  void invalidUtf8ClosesThatConnectionAndAFreshClientIsServed() throws Exception {
    assertMalformedInputClosesConnection(new byte[] {0, 0, 0, 2, (byte) 0xc3, 0x28});
  }

  @Test
  void textGarbageClosesThatConnectionAndAFreshClientIsServed() throws Exception {
    assertMalformedInputClosesConnection("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
  }

  private void assertMalformedInputClosesConnection(byte[] input) throws Exception {
    start(ControlServer.Options.defaults().withConnectionDeadline(Duration.ofSeconds(30)));
    RawPeer p = peer();
    p.send(input);
    p.awaitClosed(WAIT); // long before the 30 s deadline
    Await.until(WAIT, () -> server.connectionsMalformed() == 1, () -> "malformed counted");
    assertEquals(0, server.connectionsCutOff());
    assertEquals("svc", ControlClient.hello(endpoint, CLIENT_TIMEOUT).service());
  }

  @Test
  void silentPeerIsCutOffAtTheDeadlineWhileAFreshClientIsServed() throws Exception {
    Duration deadline = Duration.ofMillis(300);
    start(ControlServer.Options.defaults().withConnectionDeadline(deadline));
    long t0 = System.nanoTime();
    RawPeer silent = peer();

    assertEquals("svc", ControlClient.hello(endpoint, CLIENT_TIMEOUT).service());
    silent.awaitClosed(WAIT);
    long elapsed = System.nanoTime() - t0;

    assertCutNearDeadline(deadline, elapsed);
    Await.until(WAIT, () -> server.connectionsCutOff() == 1, () -> "cut counted");
  }

  @Test
  void tricklingPeerIsCutOffAtTheDeadlineWhileAFreshClientIsServed() throws Exception {
    Duration deadline = Duration.ofMillis(300);
    start(ControlServer.Options.defaults().withConnectionDeadline(deadline));
    long t0 = System.nanoTime();
    RawPeer trickler = peer();
    // A frame announcing 1000 bytes, then one byte every 20 ms: always busy, never done in time.
    trickler.send(new byte[] {0, 0, 3, (byte) 0xe8});
    ScheduledExecutorService drip = Executors.newSingleThreadScheduledExecutor();
    try {
      drip.scheduleAtFixedRate(() -> {
        try {
          trickler.send(new byte[] {'x'});
        } catch (IOException closed) {
          throw new IllegalStateException(closed); // stops the drip
        }
      }, 0, 20, TimeUnit.MILLISECONDS);

      assertEquals("svc", ControlClient.hello(endpoint, CLIENT_TIMEOUT).service());
      trickler.awaitClosed(WAIT);
      long elapsed = System.nanoTime() - t0;
      assertCutNearDeadline(deadline, elapsed);
    } finally {
      drip.shutdownNow();
    }
    Await.until(WAIT, () -> server.connectionsCutOff() == 1, () -> "cut counted");
  }

  private static void assertCutNearDeadline(Duration deadline, long elapsedNanos) {
    long ms = TimeUnit.NANOSECONDS.toMillis(elapsedNanos);
    assertTrue(ms >= deadline.toMillis() - 50, "cut too early: " + ms + " ms");
    assertTrue(ms < deadline.toMillis() + 2500, "cut too late: " + ms + " ms");
  }

  @Test
  void aNewConnectionPastTheCapIsServedAndTheOldestSilentOneIsClosedWithoutAReset() throws Exception {
    int cap = 3;
    start(ControlServer.Options.defaults().withMaxConnections(cap).withConnectionDeadline(Duration.ofSeconds(30)));
    List<RawPeer> idle = new ArrayList<>();
    for (int i = 0; i < cap; i++) {
      idle.add(peer());
      int opened = i + 1;
      Await.until(WAIT, () -> server.connectionsOpen() == opened, () -> opened + " connections open");
    }

    assertEquals("svc", ControlClient.hello(endpoint, CLIENT_TIMEOUT).service(), "the cap never refuses a request");
    idle.get(0).awaitClosed(WAIT); // the oldest made room, long before its 30 s deadline
    assertEquals(1, server.connectionsRejected());
    assertEquals(0, server.connectionsCutOff());
  }

  @Test
  void requestsPipelinedByAPeerThatNeverReadsAreAnsweredWithinABoundAndOthersAreStillServed() throws Exception {
    start();
    RawPeer greedy = peer();
    byte[] one = toBytes(ControlFrames.encodeFrame("STATUS"));
    byte[] many = new byte[one.length * 2000];
    for (int i = 0; i < 2000; i++) {
      System.arraycopy(one, 0, many, i * one.length, one.length);
    }
    Thread sender = new Thread(() -> {
      try {
        greedy.send(many);
      } catch (IOException | RuntimeException closed) {
        // the server may cut it off at its deadline
      }
    }, "greedy-sender");
    sender.setDaemon(true);
    sender.start();
    assertEquals("svc", ControlClient.hello(endpoint, CLIENT_TIMEOUT).service());
    for (int i = 0; i < 3; i++) {
      assertTrue(Reply.parse(greedy.readFrame(WAIT)).ok(), "the greedy peer's replies come in order");
    }
  }

  @Test
  void handlerFailureIsAnsweredWithErrAndTheServerKeepsServing() throws Exception {
    start();
    handler.failHello = true;
    ControlProtocolException e = assertThrows(ControlProtocolException.class,
        () -> ControlClient.hello(endpoint, CLIENT_TIMEOUT));
    assertTrue(e.getMessage().contains("internal error"), e.getMessage());
    handler.failHello = false;
    assertEquals("svc", ControlClient.hello(endpoint, CLIENT_TIMEOUT).service());
  }

  @Test
  void closeStopsEveryThreadIsIdempotentAndLaterClientsCannotConnect() throws Exception {
    start(ControlServer.Options.defaults().withConnectionDeadline(Duration.ofSeconds(30)));
    ControlClient.hello(endpoint, CLIENT_TIMEOUT);
    RawPeer idle = peer();
    Await.until(WAIT, () -> server.connectionsOpen() == 1, () -> "idle connection admitted");
    assertFalse(serverThreads(server).isEmpty());

    server.close();
    server.close();

    joinServerThreads(server);
    idle.awaitClosed(WAIT);
    assertTrue(server.isClosed());
    ConnectException e = assertThrows(ConnectException.class, () -> ControlClient.hello(endpoint, CLIENT_TIMEOUT));
    assertTrue(e.getMessage().contains(endpoint.toString()), e.getMessage());
  }

  @Test
  void abstractEndpointIsServedAndReachedThroughJunixsocket() throws Exception {
    Endpoint abs;
    IpcListener listener;
    try {
      abs = Endpoint.abstractName("fastbind-control-test-" + UUID.randomUUID());
      listener = IpcListener.bind(abs);
    } catch (IOException | LinkageError e) {
      org.junit.jupiter.api.Assumptions.abort("abstract endpoints unavailable here: " + e);
      return;
    }
    server = ControlServer.start(listener, handler);
    assertEquals("inst-1", ControlClient.hello(abs, CLIENT_TIMEOUT).instanceId());
    assertEquals("2", ControlClient.status(abs, CLIENT_TIMEOUT).get("connections-served"), "HELLO and STATUS");
    server.close();
    joinServerThreads(server);
    assertThrows(ConnectException.class, () -> ControlClient.hello(abs, CLIENT_TIMEOUT));
  }

  // ---------------------------------------------------------------------------------------------

  static List<Thread> serverThreads(ControlServer s) {
    List<Thread> found = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith(s.threadPrefix())) {
        found.add(t);
      }
    }
    return found;
  }

  /** Joins every thread the server started, failing if any outlives {@link #WAIT}. */
  static void joinServerThreads(ControlServer s) throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    for (Thread t : serverThreads(s)) {
      t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime())));
      assertFalse(t.isAlive(), t.getName() + " still alive after close()");
      assertTrue(t.isDaemon(), t.getName() + " is a daemon thread");
    }
    assertEquals(List.of(), serverThreads(s));
  }

  static byte[] toBytes(io.netty.buffer.ByteBuf buf) {
    byte[] b = new byte[buf.readableBytes()];
    buf.readBytes(b);
    buf.release();
    return b;
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] all = new byte[a.length + b.length];
    System.arraycopy(a, 0, all, 0, a.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    return all;
  }

  /** A controllable handler: state is volatile, shutdown is counted and can be made to block. */
  static final class TestHandler implements ControlHandler {
    volatile DaemonState state = DaemonState.WARMING;
    volatile int progress;
    volatile Optional<String> phase = Optional.empty();
    volatile Map<String, String> extra = Map.of();
    volatile boolean failHello;
    volatile CountDownLatch blockShutdown = new CountDownLatch(0);
    final AtomicInteger shutdownCalls = new AtomicInteger();
    final CountDownLatch shutdownStarted = new CountDownLatch(1);

    @Override
    public HelloReply hello() {
      if (failHello) {
        throw new IllegalStateException("boom");
      }
      return new HelloReply("svc", "1.0", ProcessHandle.current().pid(), "inst-1", state, progress, phase);
    }

    @Override
    public Map<String, String> statusFields() {
      return extra;
    }

    @Override
    public void shutdown() {
      shutdownCalls.incrementAndGet();
      shutdownStarted.countDown();
      try {
        blockShutdown.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
