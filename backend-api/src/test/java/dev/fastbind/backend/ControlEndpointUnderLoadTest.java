package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The broker's questions reach a healthy daemon's control endpoint within their deadline however
 * many silent same-user peers hold control connections, and many questions at once all get answers.
 */
class ControlEndpointUnderLoadTest {

  private static final Duration START = Duration.ofSeconds(20);
  /** Well under the broker's probe budget and the control connections' 5 s deadline. */
  private static final Duration BROKER_DEADLINE = Duration.ofMillis(1000);

  @TempDir Path runtime;

  private final List<SocketChannel> silent = new ArrayList<>();

  @AfterEach
  void closeSilentPeers() throws Exception {
    for (SocketChannel c : silent) {
      c.close();
    }
  }

  private Path control() {
    return runtime.resolve("echo.ctl");
  }

  @Test
  void helloAndStatusAnswerWithinTheDeadlineWhileSilentPeersHoldControlConnections() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      Endpoint ctl = Endpoint.unixPath(control());
      for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
          silent.add(SocketChannel.open(UnixDomainSocketAddress.of(control())));
        }
        assertEquals(daemon.pid(), ControlClient.hello(ctl, BROKER_DEADLINE).pid(), "HELLO past " + silent.size()
            + " silent connections");
        assertEquals(Long.toString(daemon.pid()), ControlClient.status(ctl, BROKER_DEADLINE).get("pid"));
      }
      String log = daemon.log();
      long lines = log.lines().filter(l -> l.contains("control endpoint")).count();
      assertTrue(lines <= 4, "closing " + silent.size() + " connections at the cap is logged at a bounded rate:\n" + log);
    }
  }

  @Test
  void aHundredConcurrentHellosAllGetAnswers() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      Endpoint ctl = Endpoint.unixPath(control());
      int callers = 100;
      ExecutorService pool = Executors.newFixedThreadPool(callers);
      try {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<HelloReply>> replies = new ArrayList<>();
        for (int i = 0; i < callers; i++) {
          replies.add(pool.submit(() -> {
            go.await();
            return ControlClient.hello(ctl, Duration.ofSeconds(5));
          }));
        }
        go.countDown();
        for (Future<HelloReply> f : replies) {
          assertEquals(daemon.pid(), f.get(10, TimeUnit.SECONDS).pid());
        }
      } finally {
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
      }
    }
  }
}
