package dev.fastbind.backend;

import dev.fastbind.backend.internal.wire.Env;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.backend.testing.EchoDaemon;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXServerSocketChannel;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;

/** A daemon adopts a listener it inherited instead of binding: systemd's protocol and inetd style. */
class InheritedListenerTest {

  @TempDir Path runtime;

  @Test
  @RequiresCapability(Capability.SYSTEMD_SOCKET_ACTIVATE)
  void daemonRunsUnderSystemdSocketActivateUnchanged() throws Exception {
    Path activate = Capability.SYSTEMD_SOCKET_ACTIVATE.executable();
    Path sock = runtime.resolve("echo.sock");
    List<String> command = new ArrayList<>(List.of(activate.toString(), "-l", sock.toString(),
        "-E", "FASTBIND_RUNTIME_DIR", "-E", Env.NOTIFY_SOCKET));
    command.addAll(JavaCommand.of(EchoDaemon.class).light().build());
    try (DaemonProcess daemon = DaemonProcess.start(runtime, Map.of(), command,
        ProcessBuilder.Redirect.from(new File("/dev/null")))) {
      // systemd-socket-activate starts the daemon on the first connection; that client is served.
      try (SocketChannel client = connectOnceListening(sock, Duration.ofSeconds(10))) {
        client.write(ByteBuffer.wrap("sd".getBytes(StandardCharsets.US_ASCII)));
        Readiness.Message ready = daemon.awaitNotification(DaemonProcessTest.START);
        assertEquals(Readiness.Kind.READY, ready.kind(), daemon.log());
        assertEquals(daemon.pid(), ready.pid(), "systemd-socket-activate execs the daemon in place");
        assertEquals("echo:sd", DaemonProcessTest.readAll(client));
      }
      LockfileRecord record = Lockfiles.read(runtime.resolve("echo.lock")).orElseThrow();
      assertEquals(Endpoint.unixPath(sock), record.endpoint());
      assertEquals(daemon.pid(), ControlClient.hello(record.controlEndpoint(), DaemonProcessTest.CALL).pid());
      ControlClient.shutdown(record.controlEndpoint(), DaemonProcessTest.CALL);
      assertEquals(0, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      assertFalse(Files.exists(runtime.resolve("echo.lock")));
    }
  }

  /** Plays systemd: binds, forks, passes the socket at fd 3 with LISTEN_PID/LISTEN_FDS, keeps its copy. */
  private static final String ACTIVATOR = String.join("\n",
      "import os, socket, sys",
      "path = sys.argv[1]",
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
      "s.bind(path)",
      "s.listen(16)",
      "pid = os.fork()",
      "if pid == 0:",
      "    if s.fileno() != 3:",
      "        os.dup2(s.fileno(), 3)",
      "    os.set_inheritable(3, True)",
      "    os.environ['LISTEN_PID'] = str(os.getpid())",
      "    os.environ['LISTEN_FDS'] = '1'",
      "    os.execvp(sys.argv[2], sys.argv[2:])",
      "os.waitpid(pid, 0)",
      "c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
      "c.settimeout(5)",
      "try:",
      "    c.connect(path)",
      "    print('ACTIVATOR: still listening', flush=True)",
      "except OSError as e:",
      "    print('ACTIVATOR: refused: %s' % e, flush=True)",
      "");

  @Test
  @RequiresCapability(Capability.PYTHON3)
  void aSocketActivatedDaemonThatStopsLeavesTheActivatorsSocketListening() throws Exception {
    // systemd keeps a socket unit's listener to start the daemon again on the next connection: the
    // daemon's close must not shut the shared socket down (junixsocket's close would).
    Path sock = runtime.resolve("echo.sock");
    List<String> command = new ArrayList<>(List.of("python3", "-c", ACTIVATOR, sock.toString()));
    command.addAll(JavaCommand.of(EchoDaemon.class).light().build());
    try (DaemonProcess activator = DaemonProcess.start(runtime, Map.of(), command,
        ProcessBuilder.Redirect.from(new File("/dev/null")))) {
      Readiness.Message ready = activator.awaitNotification(DaemonProcessTest.START);
      assertEquals(Readiness.Kind.READY, ready.kind(), activator.log());
      LockfileRecord record = Lockfiles.read(runtime.resolve("echo.lock")).orElseThrow();
      assertEquals(Endpoint.unixPath(sock), record.endpoint());
      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
        client.write(ByteBuffer.wrap("sd".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("echo:sd", DaemonProcessTest.readAll(client));
      }
      ControlClient.shutdown(record.controlEndpoint(), DaemonProcessTest.CALL);
      assertEquals(0, activator.awaitExit(DaemonProcessTest.START), activator.log());
      assertTrue(activator.log().contains("ACTIVATOR: still listening"), activator.log());
      assertTrue(Files.exists(sock), "the socket file belongs to the activator and stays");
    }
  }

  /**
   * Connects once something listens at {@code sock}: the file appears at bind(2), a moment before
   * listen(2), and a connect in between is refused (nothing else happens, so retrying is harmless).
   */
  private static SocketChannel connectOnceListening(Path sock, Duration timeout) {
    SocketException[] last = {null};
    return Await.value(timeout, () -> {
      try {
        return Optional.of(SocketChannel.open(UnixDomainSocketAddress.of(sock)));
      } catch (SocketException notYet) { // no event tells when listen() happens
        last[0] = notYet;
        return Optional.empty();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }, () -> "nothing listening at " + sock + ": " + last[0]);
  }

  @Test
  void daemonAdoptsAListeningSocketHandedOverAsStandardInput() throws Exception {
    Path sock = runtime.resolve("handoff.sock");
    try (AFUNIXServerSocketChannel server = AFUNIXServerSocketChannel.open()) {
      server.bind(AFUNIXSocketAddress.of(sock));
      ProcessBuilder.Redirect stdin = FileDescriptorCast.using(server.getFileDescriptor())
          .as(ProcessBuilder.Redirect.class);
      // A client may connect before the daemon's JVM has even started: the kernel queues it.
      try (SocketChannel early = SocketChannel.open(UnixDomainSocketAddress.of(sock));
          DaemonProcess daemon = DaemonProcess.start(runtime, Map.of(),
              JavaCommand.of(EchoDaemon.class).light().build(), stdin)) {
        early.write(ByteBuffer.wrap("early".getBytes(StandardCharsets.US_ASCII)));
        assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
        assertEquals("echo:early", DaemonProcessTest.readAll(early));
        LockfileRecord record = Lockfiles.read(runtime.resolve("echo.lock")).orElseThrow();
        assertEquals(Endpoint.unixPath(sock), record.endpoint());
        assertFalse(Files.exists(runtime.resolve("echo.sock")), "an adopting daemon must not bind its default endpoint");
        ControlClient.shutdown(record.controlEndpoint(), DaemonProcessTest.CALL);
        assertEquals(0, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
        assertTrue(Files.exists(sock), "an inherited socket file belongs to whoever bound it");
      }
    }
  }
}
