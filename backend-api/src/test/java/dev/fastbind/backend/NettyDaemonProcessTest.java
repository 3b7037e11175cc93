package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.backend.testing.NettyEchoDaemon;
import dev.fastbind.backend.testing.NettyServers.Transport;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.File;
import java.io.IOException;
import java.net.SocketException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.newsclub.net.unix.AFUNIXServerSocketChannel;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * Real daemon processes that serve their fastbind listener with Netty answer, on every kind of
 * listener the SDK makes: a bound path, an abstract name, one inherited as standard input (the
 * broker's hand-off) and one adopted from descriptor 3 (systemd).
 */
class NettyDaemonProcessTest {

  private static final Duration START = Duration.ofSeconds(30);

  @TempDir Path runtime;

  private static List<String> daemon(Transport transport) {
    return JavaCommand.of(NettyEchoDaemon.class).light().args("transport=" + transport.prefix()).build();
  }

  private static ProcessBuilder.Redirect devNull() {
    return ProcessBuilder.Redirect.from(new File("/dev/null"));
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aDaemonServingWithNettyOnItsBoundListenerAnswersAndStopsCleanly(Transport transport) throws Exception {
    try (DaemonProcess daemon = DaemonProcess.start(runtime, Map.of(), daemon(transport), devNull())) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      Endpoint e = Endpoint.unixPath(runtime.resolve("netty.sock"));
      assertEquals(transport.prefix() + ":hi", exchangeOrLog(daemon, e, "hi"));
      stop(daemon);
      assertFalse(Files.exists(runtime.resolve("netty.sock")), "the daemon's own socket file is removed");
    }
  }

  @Test
  void aDaemonServingWithNettyEpollOnAnAbstractEndpointAnswers() throws Exception {
    Endpoint e = Endpoint.abstractName("fastbind-netty-daemon-" + UUID.randomUUID());
    try (DaemonProcess daemon = DaemonProcess.start(runtime, Map.of("FASTBIND_ENDPOINT", e.toString()),
        daemon(Transport.EPOLL), devNull())) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      assertEquals("epoll:abstract", exchangeOrLog(daemon, e, "abstract"));
      stop(daemon);
    }
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aDaemonServingWithNettyOnAListenerInheritedAsStandardInputAnswers(Transport transport) throws Exception {
    Path sock = runtime.resolve("handoff.sock");
    try (AFUNIXServerSocketChannel server = AFUNIXServerSocketChannel.open()) {
      server.bind(AFUNIXSocketAddress.of(sock));
      ProcessBuilder.Redirect stdin = FileDescriptorCast.using(server.getFileDescriptor())
          .as(ProcessBuilder.Redirect.class);
      try (DaemonProcess daemon = DaemonProcess.start(runtime, Map.of(), daemon(transport), stdin)) {
        assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
        assertTrue(awaitServing(daemon).contains("(inherited)"), daemon.log());
        assertEquals(transport.prefix() + ":inherited", exchangeOrLog(daemon, Endpoint.unixPath(sock), "inherited"));
        stop(daemon);
        assertTrue(Files.exists(sock), "an inherited socket file belongs to whoever bound it");
      }
    }
  }

  @Test
  @RequiresCapability(Capability.SYSTEMD_SOCKET_ACTIVATE)
  void aDaemonServingWithNettyEpollOnDescriptorThreeFromSystemdAnswers() throws Exception {
    Path sock = runtime.resolve("activated.sock");
    List<String> command = new ArrayList<>(List.of(Capability.SYSTEMD_SOCKET_ACTIVATE.executable().toString(),
        "-l", sock.toString(), "-E", "FASTBIND_RUNTIME_DIR", "-E", Env.NOTIFY_SOCKET));
    command.addAll(daemon(Transport.EPOLL));
    try (DaemonProcess daemon = DaemonProcess.start(runtime, Map.of(), command, devNull())) {
      // systemd-socket-activate starts the daemon on the first connection, which is then served.
      try (SocketChannel first = connectOnceListening(sock)) {
        first.write(ByteBuffer.wrap("sd".getBytes(StandardCharsets.US_ASCII)));
        assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
        assertEquals("epoll:sd", Peer.readAnswer(first, 2), daemon.log());
      }
      assertTrue(awaitServing(daemon).contains("(inherited)"), daemon.log());
      assertEquals("epoll:again", exchangeOrLog(daemon, Endpoint.unixPath(sock), "again"));
      stop(daemon);
    }
  }

  @Test
  @RequiresCapability({Capability.ROOT, Capability.RUNUSER, Capability.PYTHON3})
  void aDaemonServingWithNettyRefusesAPeerOfAnotherUserAndLogsIt() throws Exception {
    String name = "fastbind-netty-daemon-peer-" + UUID.randomUUID();
    Endpoint e = Endpoint.abstractName(name);
    try (DaemonProcess daemon = DaemonProcess.start(runtime, Map.of("FASTBIND_ENDPOINT", e.toString()),
        daemon(Transport.EPOLL), devNull())) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(START).kind(), daemon.log());
      String nobody = Peer.asNobody("\\0" + name, "intruder");
      assertTrue(nobody.contains("received b''"), "another user was answered: " + nobody);
      assertEquals("epoll:own", exchangeOrLog(daemon, e, "own"));
      Await.until(Duration.ofSeconds(10), () -> logOf(daemon).contains("rejected a connection"),
          () -> "the refusal was not logged: " + logOf(daemon));
      assertTrue(logOf(daemon).contains("uid 65534"), logOf(daemon));
      stop(daemon);
    }
  }

  private static String exchangeOrLog(DaemonProcess daemon, Endpoint e, String text) throws IOException {
    try {
      return Peer.exchange(e, text);
    } catch (IOException | AssertionError x) {
      throw new AssertionError("exchange with the daemon failed: " + x + "; daemon log:\n" + daemon.log(), x);
    }
  }

  /** Asks the daemon to stop over its control endpoint; it exits 0, its onShutdown having stopped Netty. */
  private void stop(DaemonProcess daemon) throws Exception {
    LockfileRecord record = Lockfiles.read(runtime.resolve("netty.lock")).orElseThrow();
    ControlClient.shutdown(record.controlEndpoint(), Duration.ofSeconds(5));
    assertEquals(0, daemon.awaitExit(START), daemon.log());
  }

  /**
   * Waits until the daemon says it serves (readiness is announced before serve runs; clients that
   * come earlier wait in the backlog) and returns that line.
   */
  private static String awaitServing(DaemonProcess daemon) {
    Await.until(START, () -> logOf(daemon).contains("serving with Netty"), () -> "never served: " + logOf(daemon));
    return logOf(daemon).lines().filter(l -> l.contains("serving with Netty")).findFirst().orElseThrow();
  }

  private static String logOf(DaemonProcess daemon) {
    try {
      return daemon.log();
    } catch (IOException x) {
      return "(log unreadable: " + x + ")";
    }
  }

  /** Connects once something listens at {@code sock} (bind(2) makes the file a moment before listen(2)). */
  private static SocketChannel connectOnceListening(Path sock) {
    return Await.value(Duration.ofSeconds(10), () -> {
      try {
        return Optional.of(SocketChannel.open(UnixDomainSocketAddress.of(sock)));
      } catch (SocketException notYet) {
        return Optional.empty();
      } catch (IOException x) {
        throw new java.io.UncheckedIOException(x);
      }
    }, () -> "nothing listening at " + sock);
  }
}
