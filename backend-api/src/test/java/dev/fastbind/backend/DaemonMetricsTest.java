package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.wire.LoopFrames;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.backend.testing.MeteredDaemon;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.EOFException;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's {@code fastbind.daemon.*} meters, read from real daemon JVMs ({@link MeteredDaemon})
 * through real sockets: the daemon answers {@code meters} with its registry's contents, and prints
 * them in its log as its last shutdown action. And the other side of the optional dependency: a
 * daemon given no registry loads no Micrometer class, and runs with Micrometer off its class path.
 */
class DaemonMetricsTest {

  @TempDir Path runtime;

  private DaemonProcess start(boolean metered, List<String> jvmOptions, String classPath, String... args)
      throws IOException {
    JavaCommand command = JavaCommand.of(MeteredDaemon.class).light()
        .jvmOptions("-Dfastbind.test.metrics=" + metered).jvmOptions(jvmOptions).args(args);
    if (classPath != null) {
      command.classPath(classPath);
    }
    return DaemonProcess.start(runtime, Map.of(), command.build(),
        ProcessBuilder.Redirect.from(new File("/dev/null")));
  }

  private Endpoint endpoint() throws BindException.InvalidEndpoint {
    return Endpoint.unixPath(runtime.resolve("metered.sock"));
  }

  private static String call(SocketChannel c, String text) throws IOException {
    ByteBuffer f = LoopFrames.frame(LoopFrames.REQUEST, text.getBytes(StandardCharsets.UTF_8));
    while (f.hasRemaining()) {
      c.write(f);
    }
    ByteBuffer h = ByteBuffer.allocate(LoopFrames.HEADER_BYTES);
    readFully(c, h);
    ByteBuffer body = ByteBuffer.allocate((int) LoopFrames.payloadLength(h));
    readFully(c, body);
    assertEquals(LoopFrames.RESPONSE, LoopFrames.kind(h), "answer to " + text + ": " + LoopFrames.kindName(LoopFrames.kind(h)));
    return new String(body.array(), StandardCharsets.UTF_8);
  }

  private static void readFully(SocketChannel c, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (c.read(b) < 0) {
        throw new EOFException("the daemon closed the connection mid-frame");
      }
    }
  }

  /** The daemon's meters, asked on {@code c}. */
  private static String meters(SocketChannel c) {
    try {
      return call(c, "meters");
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  /** {@code statistic} of the meter whose dump line starts with {@code meter} ({@code name{tags}}). */
  static OptionalDouble stat(String dump, String meter, String statistic) {
    for (String line : dump.split("\n")) {
      String l = line.startsWith("meters: ") ? line.substring("meters: ".length()) : line;
      if (l.startsWith(meter + " ")) {
        for (String part : l.substring(meter.length() + 1).split(" ")) {
          if (part.startsWith(statistic + "=")) {
            return OptionalDouble.of(Double.parseDouble(part.substring(statistic.length() + 1)));
          }
        }
      }
    }
    return OptionalDouble.empty();
  }

  private static double required(String dump, String meter, String statistic) {
    OptionalDouble v = stat(dump, meter, statistic);
    assertTrue(v.isPresent(), "no " + meter + " " + statistic + " in:\n" + dump);
    return v.getAsDouble();
  }

  @Test
  void warmUpTimeIsRecordedOnceWhenTheDaemonIsReady() throws Exception {
    try (DaemonProcess daemon = start(true, List.of(), null, "warm-ms=300")) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      try (SocketChannel c = Peer.connect(endpoint())) {
        // The loop takes requests from when serve hands it the handler, just before ready().
        String dump = Await.value(DaemonProcessTest.START, () -> {
          String d = meters(c);
          return stat(d, "fastbind.daemon.warmup{}", "COUNT").orElse(0) > 0 ? Optional.of(d) : Optional.empty();
        }, () -> "the warm-up was never recorded");
        assertEquals(1.0, required(dump, "fastbind.daemon.warmup{}", "COUNT"), dump);
        double seconds = required(dump, "fastbind.daemon.warmup{}", "TOTAL_TIME");
        assertTrue(seconds >= 0.3, "warm-up includes the 300 ms of warming: " + seconds + " s");
        assertTrue(seconds < 20, "warm-up is timed from the bootstrap's start: " + seconds + " s");
      }
    }
  }

  @Test
  void acceptedConnectionsAndAnsweredRequestsAreCountedWithTheirLatency() throws Exception {
    try (DaemonProcess daemon = start(true, List.of(), null)) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      for (int i = 0; i < 3; i++) {
        try (SocketChannel c = Peer.connect(endpoint())) {
          assertEquals("echo:a" + i, call(c, "a" + i));
          assertEquals("echo:b" + i, call(c, "b" + i));
        }
      }
      try (SocketChannel asking = Peer.connect(endpoint())) {
        // The three closed connections are counted out when the loop sees each end of stream.
        String dump = Await.value(DaemonProcessTest.START, () -> {
          String d = meters(asking);
          return stat(d, "fastbind.daemon.connections.active{}", "VALUE").orElse(-1) == 1.0 ? Optional.of(d)
              : Optional.empty();
        }, () -> "the active-connections gauge never fell back to the one asking");
        assertEquals(4.0, required(dump, "fastbind.daemon.connections{}", "COUNT"), dump);
        // The six echoes, and the meters requests answered before this one.
        double ok = required(dump, "fastbind.daemon.requests{outcome=ok}", "COUNT");
        assertTrue(ok >= 6, dump);
        assertTrue(required(dump, "fastbind.daemon.requests{outcome=ok}", "TOTAL_TIME") > 0, dump);
        assertTrue(required(dump, "fastbind.daemon.requests{outcome=ok}", "MAX") > 0, dump);
        assertEquals(0.0, required(dump, "fastbind.daemon.requests{outcome=failed}", "COUNT"), dump);
        assertEquals(0.0, required(dump, "fastbind.daemon.peers.rejected{listener=main}", "COUNT"), dump);
      }
    }
  }

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.PYTHON3})
  void aPeerOfAnotherUserIsCountedAsRejected() throws Exception {
    // An abstract name: user nobody can reach it (a socket file sits in an owner-only directory).
    String name = "fastbind-metrics-" + UUID.randomUUID();
    try (DaemonProcess daemon = start(true, List.of(), null, "--endpoint=abstract:" + name)) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      String nobody = Peer.asNobody("\\0" + name, "intruder");
      assertTrue(nobody.contains("received b''"), "another user was answered: " + nobody);
      try (SocketChannel c = Peer.connect(Endpoint.abstractName(name))) {
        String dump = call(c, "meters");
        assertEquals(1.0, required(dump, "fastbind.daemon.peers.rejected{listener=main}", "COUNT"), dump);
        assertEquals(0.0, required(dump, "fastbind.daemon.peers.rejected{listener=control}", "COUNT"), dump);
        assertEquals(1.0, required(dump, "fastbind.daemon.connections{}", "COUNT"),
            "the rejected peer never reached the loop: " + dump);
      }
    }
  }

  @Test
  void anIdleExitIsCountedBeforeTheShutdownActionsRun() throws Exception {
    try (DaemonProcess daemon = start(true, List.of("-Dfastbind.test.idle-ms=300"), null)) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      assertEquals(0, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      String log = daemon.log();
      assertTrue(log.contains("idle for"), log);
      assertEquals(1.0, required(log, "fastbind.daemon.idle.exits{}", "COUNT"), log);
      assertEquals(1.0, required(log, "fastbind.daemon.exits{reason=idle-timeout}", "COUNT"), log);
    }
  }

  @Test
  void aSigtermIsCountedAsAnExitButNotAsAnIdleOne() throws Exception {
    try (DaemonProcess daemon = start(true, List.of(), null)) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      try (SocketChannel c = Peer.connect(endpoint())) {
        // Answered, so serve has registered the action that prints the meters.
        assertEquals("echo:x", call(c, "x"));
      }
      daemon.signal("TERM");
      assertEquals(143, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      String log = daemon.log();
      assertEquals(1.0, required(log, "fastbind.daemon.exits{reason=sigterm}", "COUNT"), log);
      assertEquals(0.0, required(log, "fastbind.daemon.idle.exits{}", "COUNT"), log);
    }
  }

  @Test
  void aDaemonGivenNoRegistryLoadsNoMicrometerClassThoughMicrometerIsOnItsClassPath() throws Exception {
    assertTrue(System.getProperty("java.class.path").contains("micrometer-core"), "the test needs it there");
    try (DaemonProcess daemon = start(false, List.of("-Xlog:class+load=info"), null)) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      try (SocketChannel c = Peer.connect(endpoint())) {
        assertEquals("echo:x", call(c, "x"));
        assertEquals("no registry", call(c, "meters"));
      }
      daemon.signal("TERM");
      assertEquals(143, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      String log = daemon.log();
      assertTrue(log.contains("dev.fastbind.backend.loop.RequestLoop "), "the class-load log works: " + log);
      List<String> micrometer = Arrays.stream(log.split("\n")).filter(l -> l.contains("io.micrometer"))
          .collect(Collectors.toList());
      assertEquals(List.of(), micrometer, "with no registry, serving and stopping loaded Micrometer");
    }
  }

  @Test
  void aDaemonWithoutMicrometerOnItsClassPathStartsServesAndStops() throws Exception {
    List<String> kept = new ArrayList<>();
    List<String> dropped = new ArrayList<>();
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      String file = Path.of(entry).getFileName().toString();
      boolean micrometer = file.startsWith("micrometer-") || file.startsWith("HdrHistogram")
          || file.startsWith("LatencyUtils");
      (micrometer ? dropped : kept).add(entry);
    }
    assertTrue(dropped.stream().anyMatch(e -> e.contains("micrometer-core")), "nothing removed: " + dropped);
    try (DaemonProcess daemon = start(false, List.of(), String.join(File.pathSeparator, kept))) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      try (SocketChannel c = Peer.connect(endpoint())) {
        assertEquals("echo:without", call(c, "without"));
      }
      daemon.signal("TERM");
      assertEquals(143, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      assertFalse(daemon.log().contains("NoClassDefFoundError"), daemon.log());
      assertFalse(daemon.log().contains("Exception"), daemon.log());
    }
  }
}
