package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.Handoff;
import dev.fastbind.backend.internal.Listeners;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.SocketHolders;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import java.io.FileInputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon side of the listener hand-off, against real daemon JVMs: the test plays the broker,
 * binding the endpoint and serving the rendezvous.
 */
class ListenerHandoffTest {

  @TempDir Path runtime;

  private Map<String, String> handoffEnv(Path rendezvous, String parent, long patienceMillis) {
    return Map.of(Env.HANDOFF, rendezvous.toString(), Env.HANDOFF_PARENT, parent,
        Env.HANDOFF_PATIENCE_MS, Long.toString(patienceMillis));
  }

  private static String self() {
    return Long.toString(ProcessHandle.current().pid());
  }

  private static long deadline() {
    return System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
  }

  @Test
  void aDaemonGivenTheListenerServesItAndBindsNoSocketOfItsOwn() throws Exception {
    Endpoint endpoint = Endpoint.unixPath(runtime.resolve("echo.sock"));
    Path rendezvous = runtime.resolve("echo.handoff");
    IpcListener bound = Listeners.bind(endpoint);
    try (Handoff.Rendezvous r = Handoff.Rendezvous.bind(rendezvous);
        DaemonProcess daemon = DaemonProcess.startEcho(runtime, handoffEnv(rendezvous, self(), 20_000))) {
      try (SocketChannel early = SocketChannel.open(UnixDomainSocketAddress.of(endpoint.path().orElseThrow()))) {
        early.write(ByteBuffer.wrap("early".getBytes(StandardCharsets.US_ASCII)));
        r.give(Handoff.descriptorOf(endpoint), endpoint, daemon.pid(), deadline(), pid -> daemon.process().isAlive());
        Listeners.keepSocketFile(bound);
        bound.close();
        assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
        assertEquals("echo:early", DaemonProcessTest.readAll(early), "a client that connected before the hand-off");
      }
      assertTrue(SocketHolders.holds(daemon.pid(), endpoint), "the daemon holds the socket the test bound");
      assertTrue(Files.readSymbolicLink(Path.of("/proc", Long.toString(daemon.pid()), "fd", "0")).toString()
          .startsWith("socket:"), "the listener sits at fd 0, where the JDK holds it as its own channel");
      assertEquals(endpoint, Lockfiles.read(runtime.resolve("echo.lock")).orElseThrow().endpoint());
      dev.fastbind.backend.internal.ControlClient.shutdown(
          Lockfiles.read(runtime.resolve("echo.lock")).orElseThrow().controlEndpoint(), DaemonProcessTest.CALL);
      assertEquals(0, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      assertFalse(Files.exists(runtime.resolve("echo.sock"), LinkOption.NOFOLLOW_LINKS),
          "the daemon owns the handed-off socket file and removes it when it stops");
    }
  }

  @Test
  void aDaemonGivenSomethingOtherThanAListenerFailsClosedWithOneLine() throws Exception {
    Endpoint endpoint = Endpoint.unixPath(runtime.resolve("echo.sock"));
    Path rendezvous = runtime.resolve("echo.handoff");
    Path notASocket = Files.writeString(runtime.resolve("plain.txt"), "not a socket");
    try (Handoff.Rendezvous r = Handoff.Rendezvous.bind(rendezvous);
        FileInputStream file = new FileInputStream(notASocket.toFile());
        DaemonProcess daemon = DaemonProcess.startEcho(runtime, handoffEnv(rendezvous, self(), 20_000))) {
      IOException refused = assertThrows(IOException.class, () -> r.give(file.getFD(), endpoint, daemon.pid(),
          deadline(), pid -> daemon.process().isAlive()));
      assertTrue(refused.getMessage().contains("not a socket"), refused.getMessage());
      assertEquals(Daemon.EXIT_BIND_FAILED, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      String log = daemon.log();
      assertTrue(log.contains("cannot take the listener handed off at " + rendezvous), log);
      assertTrue(log.contains("not binding a socket of its own"), log);
      assertFalse(Files.exists(endpoint.path().orElseThrow(), LinkOption.NOFOLLOW_LINKS),
          "the daemon bound nothing beside the failed hand-off");
    }
  }

  @Test
  void aDaemonWhoseRendezvousNeverAnswersFailsClosedWithinItsPatience() throws Exception {
    Path rendezvous = runtime.resolve("nobody.handoff");
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, handoffEnv(rendezvous, self(), 300))) {
      assertEquals(Daemon.EXIT_BIND_FAILED, daemon.awaitExit(DaemonProcessTest.START), daemon.log());
      assertTrue(daemon.log().contains("nothing accepted at the hand-off rendezvous " + rendezvous), daemon.log());
      assertFalse(Files.exists(runtime.resolve("echo.sock"), LinkOption.NOFOLLOW_LINKS));
    }
  }

  @Test
  void aHandoffMeantForAnotherProcessIsIgnoredAndTheDaemonBindsAsUsual() throws Exception {
    Path rendezvous = runtime.resolve("elsewhere.handoff");
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, handoffEnv(rendezvous, "0", 300))) {
      assertEquals(Readiness.Kind.READY, daemon.awaitNotification(DaemonProcessTest.START).kind(), daemon.log());
      assertTrue(SocketHolders.holds(daemon.pid(), Endpoint.unixPath(runtime.resolve("echo.sock"))));
    }
  }
}
