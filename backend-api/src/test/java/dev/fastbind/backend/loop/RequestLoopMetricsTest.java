package dev.fastbind.backend.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.wire.LoopFrames;
import dev.fastbind.testsupport.Await;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The request loop's meters in this JVM, given a registry explicitly (its context is a test's, not
 * the SDK's), on a real listener and real Unix-domain connections: each outcome in its own timer,
 * connections counted in and out. {@code DaemonMetricsTest} reads the same meters from real daemons.
 */
class RequestLoopMetricsTest {
  private static final Duration PATIENT = Duration.ofSeconds(10);

  @TempDir Path dir;

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final RequestLoopTest.Context context = new RequestLoopTest.Context();
  private final List<AutoCloseable> toClose = new ArrayList<>();
  private final List<Thread> threads = new ArrayList<>();

  @AfterEach
  void closeEverything() throws Exception {
    for (AutoCloseable c : toClose) {
      c.close();
    }
    for (Thread t : threads) {
      t.interrupt();
    }
  }

  private IpcListener listener() throws Exception {
    IpcListener l = IpcListener.bind(Endpoint.unixPath(dir.resolve("loop.sock")));
    toClose.add(l);
    return l;
  }

  private SocketChannel connect(IpcListener l) throws IOException {
    SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
    c.connect(UnixDomainSocketAddress.of(l.endpoint().path().orElseThrow()));
    toClose.add(c);
    return c;
  }

  private void inBackground(String name, Runnable r) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    t.start();
    threads.add(t);
  }

  private static void send(SocketChannel c, String text) throws IOException {
    ByteBuffer f = LoopFrames.frame(LoopFrames.REQUEST, text.getBytes(StandardCharsets.UTF_8));
    while (f.hasRemaining()) {
      c.write(f);
    }
  }

  /** The kind of the next reply frame (its payload read and dropped). */
  private static byte readKind(SocketChannel c) throws IOException {
    ByteBuffer h = ByteBuffer.allocate(LoopFrames.HEADER_BYTES);
    readFully(c, h);
    readFully(c, ByteBuffer.allocate((int) LoopFrames.payloadLength(h)));
    return LoopFrames.kind(h);
  }

  private static void readFully(SocketChannel c, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (c.read(b) < 0) {
        throw new EOFException("closed mid-frame");
      }
    }
  }

  private Timer requests(String outcome) {
    return registry.get("fastbind.daemon.requests").tag("outcome", outcome).timer();
  }

  /** Waits for {@code outcome}'s count: a request is timed once its answer is written, so just after the client reads it. */
  private void awaitCount(String outcome, long count) {
    Await.until(PATIENT, () -> requests(outcome).count() == count,
        () -> "fastbind.daemon.requests{outcome=" + outcome + "} is " + requests(outcome).count() + ", not " + count);
  }

  private double active() {
    return registry.get("fastbind.daemon.connections.active").gauge().value();
  }

  @Test
  void eachOutcomeIsTimedUnderItsOwnTagAndConnectionsAreCountedInAndOut() throws Exception {
    IpcListener l = listener();
    RequestLoop loop = RequestLoop.builder().warmup(WarmupPolicy.ANSWER_WARMING).maxConcurrency(1)
        .drainGrace(Duration.ofSeconds(10)).meterRegistry(registry).start(l, context);
    SocketChannel first = connect(l);
    send(first, "early");
    assertEquals(LoopFrames.WARMING, readKind(first));
    awaitCount("warming", 1);

    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    inBackground("test-serve", () -> {
      try {
        loop.serve((request, ctx) -> {
          String text = new String(request, StandardCharsets.UTF_8);
          if (text.equals("boom")) {
            throw new IllegalStateException("deliberate");
          }
          if (text.equals("hold")) {
            entered.countDown();
            release.await();
          }
          return request;
        });
      } catch (IOException e) {
        // the loop ended with the drain below
      }
    });
    Await.until(PATIENT, () -> context.ready, () -> "serve(handler) did not mark the context ready");
    send(first, "fine");
    assertEquals(LoopFrames.RESPONSE, readKind(first));
    send(first, "boom");
    assertEquals(LoopFrames.ERROR, readKind(first));
    awaitCount("ok", 1);
    awaitCount("failed", 1);
    assertTrue(requests("ok").totalTime(TimeUnit.NANOSECONDS) > 0, "a real request takes time");

    // One request holds the only slot; a second waits for it, and is refused when the drain begins.
    SocketChannel holder = connect(l);
    send(holder, "hold");
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    SocketChannel waiter = connect(l);
    send(waiter, "queued");
    Await.until(PATIENT, () -> loop.activity() instanceof Activity.Busy b && b.inFlight() == 2,
        () -> "the queued request was not received: " + loop.activity());
    assertEquals(3.0, registry.get("fastbind.daemon.connections").counter().count());
    assertEquals(3.0, active());
    inBackground("test-drain", context::runShutdown);
    assertEquals(LoopFrames.REFUSED, readKind(waiter));
    awaitCount("refused", 1);
    release.countDown();
    assertEquals(LoopFrames.RESPONSE, readKind(holder), "the request in flight is answered in the drain");
    awaitCount("ok", 2);
    Await.until(PATIENT, () -> active() == 0.0, () -> "connections still counted open: " + active());
    assertEquals(3.0, registry.get("fastbind.daemon.connections").counter().count());
    assertEquals(0, requests("dropped").count());
    assertEquals(0, requests("cancelled").count());
  }
}
