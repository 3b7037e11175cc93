package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.SocketHolders;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.testsupport.Await;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Broker-owned bind: the broker binds the endpoint, hands the listening socket to the daemon it
 * spawned, and passes it from a daemon to its replacement. Real daemons, real sockets.
 */
class HandoffTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() {
    Fixtures.killMarked(dir());
  }

  private ServiceDefinition.Builder handoff(String mode, String... more) {
    String[] args = new String[more.length + 1];
    args[0] = mode;
    System.arraycopy(more, 0, args, 1, more.length);
    return Fixtures.daemon(dir(), "svc", args).listenerHandoff(true);
  }

  private static SocketChannel connect(DaemonInfo info) throws IOException {
    return SocketChannel.open(UnixDomainSocketAddress.of(info.endpoint().path().orElseThrow()));
  }

  /** Reads one line; null at end of stream. */
  private static String readLine(SocketChannel c) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(128);
    while (b.hasRemaining()) {
      if (c.read(b) < 0) {
        return b.position() == 0 ? null : new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII);
      }
      if (b.position() > 0 && b.get(b.position() - 1) == '\n') {
        break;
      }
    }
    return new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim();
  }

  private static boolean logContains(Path log, String text) {
    try {
      return Files.readString(log, StandardCharsets.UTF_8).contains(text);
    } catch (IOException e) {
      return false;
    }
  }

  @Test
  void theBrokerBoundEndpointTakesAClientBeforeTheDaemonHasRunItsBootstrap() throws Exception {
    Path gate = tmp.resolve("gate");
    DaemonInfo info = broker.ensureRunning(handoff("good", "--gate=" + gate).build());
    assertEquals(DaemonInfo.Stage.BOUND, info.stage());
    try (SocketChannel c = connect(info)) {
      c.write(ByteBuffer.wrap("hello\n".getBytes(StandardCharsets.US_ASCII)));
      // The daemon waits at its gate, before Daemon.run: the socket is the broker's alone.
      assertFalse(SocketHolders.holds(info.pid(), info.endpoint()), "the daemon cannot hold the socket yet");
      assertFalse(Files.exists(dir().resolve("svc.lock"), LinkOption.NOFOLLOW_LINKS), "no lockfile yet");
      ServiceStatus between = broker.status(handoff("good").build());
      ServiceStatus.Running running = assertInstanceOf(ServiceStatus.Running.class, between,
          "status in between: " + between);
      assertEquals(DaemonInfo.Stage.BOUND, running.daemon().stage());
      assertEquals(info.pid(), running.daemon().pid());
      assertFalse(running.ready());
      Process other = new ProcessBuilder(dev.fastbind.testsupport.JavaCommand.of(TestLauncher.class).light()
          .jvmOptions(java.util.List.of("-Dfastbind.test.status=true", "-Dfastbind.test.handoff=true"))
          .args(dir().toString(), "svc", "10000").build()).redirectErrorStream(true).start();
      String seen = new String(other.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(other.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
      assertTrue(seen.contains("STATUS Running " + info.pid() + " BOUND"),
          "another launcher's status in between: " + seen);
      Files.createFile(gate);
      assertEquals(Long.toString(info.pid()), readLine(c), "the connection made before the daemon ran is served");
    }
    DaemonInfo serving = broker.awaitServing(info, Fixtures.PATIENT);
    assertEquals(DaemonInfo.Stage.SERVING, serving.stage());
    LockfileRecord r = Lockfiles.read(dir().resolve("svc.lock")).orElseThrow();
    assertEquals(info.pid(), r.pid(), "the lockfile names the daemon ensureRunning returned");
    assertEquals(info.instanceId(), r.instanceId(), "and the same instance");
    assertTrue(SocketHolders.holds(info.pid(), info.endpoint()), "the daemon holds the listener");
    assertEquals(java.util.List.of(), SocketHolders.holders(info.endpoint()).stream()
        .filter(h -> h.pid() == ProcessHandle.current().pid()).toList(), "the broker closed its own copy");
    assertFalse(Files.exists(dir().resolve("svc.handoff"), LinkOption.NOFOLLOW_LINKS), "the rendezvous is gone");

    DaemonInfo again = broker.ensureRunning(handoff("good").build());
    assertFalse(again.spawned(), "the handed-off daemon is reused");
    assertEquals(info.pid(), again.pid());
  }

  @Test
  void bytesSentBeforeTheDaemonsJvmExistsAreAnsweredOnceItServes() throws Exception {
    // The daemon's process is a shell that waits at a gate and only then execs the JVM (same pid):
    // the client connects and writes while no JVM exists at all, so the answer can only come from the
    // socket's backlog reaching the daemon the broker spawned.
    Path gate = tmp.resolve("gate");
    java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of("/bin/sh", "-c",
        "while [ ! -e \"$0\" ]; do sleep 0.01; done; exec \"$@\"", gate.toString()));
    command.addAll(dev.fastbind.testsupport.JavaCommand.of(TestDaemon.class).light()
        .args("good", Fixtures.marker(dir()), "--lifetime=60").build());
    ServiceDefinition def = ServiceDefinition.builder("svc").command(command).runtimeDirectory(dir())
        .probeBudget(Fixtures.PATIENT).listenerHandoff(true).build();
    DaemonInfo info = broker.ensureRunning(def);
    assertEquals(DaemonInfo.Stage.BOUND, info.stage());
    try (SocketChannel c = connect(info)) {
      c.write(ByteBuffer.wrap("hello\n".getBytes(StandardCharsets.US_ASCII)));
      String exe = Files.readSymbolicLink(Path.of("/proc/" + info.pid() + "/exe")).toString();
      assertFalse(exe.endsWith("/java"), "the daemon's process is still the shell, no JVM yet: " + exe);
      Files.createFile(gate);
      assertEquals(Long.toString(info.pid()), readLine(c), "the bytes sent before the JVM existed are answered");
    }
    assertEquals(DaemonInfo.Stage.SERVING, broker.awaitServing(info, Fixtures.PATIENT).stage());
  }

  @Test
  void aLaunchThatCannotStartRemovesTheSocketTheBrokerBound() throws Exception {
    Path missing = tmp.resolve("no-such-daemon");
    ServiceDefinition def = ServiceDefinition.builder("svc").command(missing.toString()).runtimeDirectory(dir())
        .probeBudget(Fixtures.PATIENT).listenerHandoff(true).build();
    // The program's absence shows either at the spawn itself or, when the process is started
    // through a helper, as the child's exit: either way the start fails, saying so, and nothing stays.
    IOException e = assertThrows(IOException.class,
        () -> broker.awaitServing(broker.ensureRunning(def), Fixtures.PATIENT));
    assertTrue(e.getMessage().contains("no-such-daemon"), "the error names the program: " + e.getMessage());
    for (String left : java.util.List.of("svc.sock", "svc.lock", "svc.handoff", "svc.ctl")) {
      Await.until(Duration.ofSeconds(10), () -> !Files.exists(dir().resolve(left), LinkOption.NOFOLLOW_LINKS),
          () -> left + " was left behind");
    }
  }

  @Test
  void aHandedOffDaemonsOwnChildrenDoNotHoldItsListener() throws Exception {
    DaemonInfo info = broker.awaitServing(broker.ensureRunning(handoff("cmd").build()), Fixtures.PATIENT);
    long childPid;
    try (SocketChannel c = connect(info)) {
      c.write(ByteBuffer.wrap("child\n".getBytes(StandardCharsets.US_ASCII)));
      childPid = Long.parseLong(readLine(c));
    }
    ProcessHandle child = ProcessHandle.of(childPid).orElseThrow(() -> new AssertionError("the child is gone"));
    try {
      assertEquals(info.pid(), child.parent().map(ProcessHandle::pid).orElse(-1L), "the daemon's own child");
      assertTrue(SocketHolders.holds(info.pid(), info.endpoint()), "the daemon holds the handed-off listener");
      assertFalse(SocketHolders.holds(childPid, info.endpoint()), "its child does not");
    } finally {
      child.destroyForcibly();
    }
  }

  @Test
  void laterHandoffDaemonsLoadJunixsocketFromTheRuntimeDirectorysCopyInsteadOfExtractingIt() throws Exception {
    ServiceDefinition def = handoff("good").build();
    DaemonInfo first = broker.awaitServing(broker.ensureRunning(def), Fixtures.PATIENT);
    String option = "-D" + dev.fastbind.broker.internal.NativeLibraryCopy.PROPERTY + "=";
    assertFalse(cmdline(first.pid()).stream().anyMatch(a -> a.startsWith(option)), "no copy yet for the first");
    // Kept by the hand-off thread once the daemon serves, after ensureRunning's answer.
    Path copy = Await.value(Duration.ofSeconds(10), () -> {
      try (java.util.stream.Stream<Path> s = Files.list(dir().resolve("native"))) {
        return s.filter(p -> p.getFileName().toString().endsWith(".so")).findFirst();
      } catch (IOException notYet) {
        return java.util.Optional.<Path>empty();
      }
    }, () -> "the first hand-off kept no copy");
    assertEquals(StopResult.SHUT_DOWN, broker.stop(def, Duration.ofSeconds(10)));

    DaemonInfo second = broker.awaitServing(broker.ensureRunning(def), Fixtures.PATIENT);
    assertTrue(cmdline(second.pid()).contains(option + copy), "the daemon is told the copy: " + cmdline(second.pid()));
    String maps = Files.readString(Path.of("/proc/" + second.pid() + "/maps"));
    assertTrue(maps.contains(copy.toString()), "and maps it: " + copy);
    assertEquals(Long.toString(second.pid()), readLine(connect(second)));
  }

  private static java.util.List<String> cmdline(long pid) throws IOException {
    String raw = new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")), StandardCharsets.UTF_8);
    return java.util.Arrays.asList(raw.split("\u0000"));
  }

  @Test
  void aDaemonThatExitsBeforeAcceptingLeavesNoSocketOrRecordAndTheNextCallRespawns() throws Exception {
    Path gate = tmp.resolve("gate");
    DaemonInfo info = broker.ensureRunning(handoff("exit3", "--gate=" + gate).build());
    assertEquals(DaemonInfo.Stage.BOUND, info.stage());
    try (SocketChannel c = connect(info)) {
      c.write(ByteBuffer.wrap("hello\n".getBytes(StandardCharsets.US_ASCII)));
      Files.createFile(gate);
      String got;
      try {
        got = readLine(c);
      } catch (IOException reset) {
        got = null;
      }
      assertEquals(null, got, "the waiting connection is reset or ended, never answered");
    }
    DaemonStartException e = assertThrows(DaemonStartException.class, () -> broker.awaitServing(info,
        Fixtures.PATIENT));
    assertEquals(DaemonStartException.Failure.EXITED, e.failure());
    assertEquals(java.util.OptionalInt.of(3), e.exitStatus());
    assertTrue(e.getMessage().contains("configuration file missing"), "the log tail is in the error: " + e.getMessage());
    Await.until(Duration.ofSeconds(10), () -> !Files.exists(dir().resolve("svc.sock"), LinkOption.NOFOLLOW_LINKS),
        () -> "the socket file the broker bound was left behind");
    assertFalse(Files.exists(dir().resolve("svc.lock"), LinkOption.NOFOLLOW_LINKS), "no record is left");

    DaemonInfo next = broker.ensureRunning(handoff("good").build());
    assertTrue(next.spawned(), "the next call respawns");
    assertTrue(next.spawnDetail().contains("previous start failed"), next.spawnDetail());
    assertEquals(Long.toString(next.pid()), readLine(connect(next)));
  }

  @Test
  void aReplacementUnderAClientLoopRefusesAndResetsNoConnection() throws Exception {
    ServiceDefinition def = handoff("good").build();
    DaemonInfo first = broker.awaitServing(broker.ensureRunning(def), Fixtures.PATIENT);
    int total = 2000;
    AtomicInteger done = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    AtomicReference<String> firstFailure = new AtomicReference<>();
    Set<String> answeredBy = ConcurrentHashMap.newKeySet();
    Thread loop = new Thread(() -> {
      for (int i = 0; i < total; i++) {
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
          c.connect(UnixDomainSocketAddress.of(first.endpoint().path().orElseThrow()));
          String pid = readLine(c);
          if (pid == null) {
            throw new IOException("end of stream without an answer");
          }
          answeredBy.add(pid);
        } catch (IOException e) {
          failed.incrementAndGet();
          firstFailure.compareAndSet(null, e.toString());
        }
        done.incrementAndGet();
      }
    }, "client-loop");
    loop.start();
    Await.until(Duration.ofSeconds(30), () -> done.get() >= 200, () -> "the client loop did not get going");
    DaemonInfo second = broker.replace(def);
    assertEquals(java.util.Optional.of(SpawnReason.REPLACE_REQUESTED), second.spawnReason());
    loop.join(120_000);
    assertFalse(loop.isAlive(), "the client loop finished");
    assertEquals(0, failed.get(), "connections refused or reset during the replacement: " + firstFailure.get());
    assertNotEquals(first.pid(), second.pid());
    assertTrue(answeredBy.contains(Long.toString(first.pid())), "the old daemon served some: " + answeredBy);
    DaemonInfo now = broker.awaitServing(second, Fixtures.PATIENT);
    try (SocketChannel c = connect(now)) {
      assertEquals(Long.toString(second.pid()), readLine(c), "the new daemon serves afterwards");
    }
    Await.until(Duration.ofSeconds(15), () -> ProcessHandle.of(first.pid()).map(h -> !h.isAlive()).orElse(true),
        () -> "the replaced daemon did not exit after draining");
    assertTrue(Files.exists(dir().resolve("svc.sock"), LinkOption.NOFOLLOW_LINKS),
        "the old daemon left the socket file to its successor");
    assertEquals(second.instanceId(), Lockfiles.read(dir().resolve("svc.lock")).orElseThrow().instanceId());
  }

  @Test
  @dev.fastbind.testsupport.RequiresCapability(dev.fastbind.testsupport.Capability.PYTHON3)
  void aCommandDaemonNotBuiltOnTheSdkTakesTheListenerToo() throws Exception {
    Path script = tmp.resolve("handoff_daemon.py");
    try (java.io.InputStream in = HandoffTest.class.getResourceAsStream("/handoff_daemon.py")) {
      Files.write(script, in.readAllBytes());
    }
    ServiceDefinition def = ServiceDefinition.builder("py")
        .command("python3", script.toString(), Fixtures.marker(dir()))
        .runtimeDirectory(dir())
        .probeBudget(Fixtures.PATIENT)
        .listenerHandoff(true)
        .build();
    DaemonInfo info = broker.ensureRunning(def);
    assertEquals(DaemonInfo.Stage.BOUND, info.stage());
    try (SocketChannel c = connect(info)) {
      assertEquals("py " + info.pid(), readLine(c), "the python daemon serves the socket the broker bound");
    }
    assertEquals(DaemonInfo.Stage.SERVING, broker.awaitServing(info, Fixtures.PATIENT).stage());
  }

  @Test
  void stopAnswersARequestInFlightBeforeTheDaemonExits() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "svc", "hold").build();
    DaemonInfo info = broker.ensureRunning(def);
    Path log = dir().resolve("svc.log");
    try (SocketChannel c = connect(info)) {
      c.write(ByteBuffer.wrap("hold\n".getBytes(StandardCharsets.US_ASCII)));
      Await.until(Duration.ofSeconds(10), () -> logContains(log, "holding"),
          () -> "the daemon never took the request");
      AtomicReference<Object> stopped = new AtomicReference<>();
      Thread stopper = new Thread(() -> {
        try {
          stopped.set(broker.stop(def, Duration.ofSeconds(20)));
        } catch (IOException e) {
          stopped.set(e);
        }
      });
      stopper.start();
      Await.until(Duration.ofSeconds(10), () -> logContains(log, "draining"),
          () -> "SHUTDOWN never reached the daemon");
      c.write(ByteBuffer.wrap("go\n".getBytes(StandardCharsets.US_ASCII)));
      assertEquals(Long.toString(info.pid()), readLine(c), "the request in flight at SHUTDOWN is answered");
      stopper.join(30_000);
      assertTrue(stopped.get() instanceof StopResult, "stop finished: " + stopped.get());
    }
  }
}
