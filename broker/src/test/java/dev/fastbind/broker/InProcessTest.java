package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.backend.loop.Codec;
import dev.fastbind.testsupport.Await;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * In-process mode against the same backend spawned as a daemon ({@link LoopTestDaemon}): the same
 * answers through {@link DaemonClient} over a real Unix socket, this JVM's pid, no trace in the
 * runtime directory, and a stop that leaves no file or thread behind.
 */
@Timeout(120)
class InProcessTest {
  @TempDir Path tmp;

  private final Broker broker = Broker.create();
  private final List<DaemonClient> clients = new ArrayList<>();
  private final List<ServiceDefinition> started = new ArrayList<>();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @BeforeEach
  void directory() throws Exception {
    RuntimeDirectory.ensureOwnerOnly(dir());
  }

  @AfterEach
  void nothingLeft() throws Exception {
    for (DaemonClient c : clients) {
      c.close();
    }
    for (ServiceDefinition d : started) {
      broker.stop(d, Duration.ofSeconds(5));
    }
    Fixtures.killMarked(dir());
  }

  private ServiceDefinition.Builder loop(String name, String... extra) {
    List<String> args = new ArrayList<>(List.of(extra));
    args.add(Fixtures.marker(dir()));
    args.add("--lifetime=60");
    return ServiceDefinition.builder(name)
        .javaMain(LoopTestDaemon.class.getName(), args.toArray(new String[0]))
        .javaOptions(Fixtures.LIGHT_JVM)
        .runtimeDirectory(dir())
        .probeBudget(Fixtures.PATIENT);
  }

  private ServiceDefinition inProcess(String name, String... extra) {
    ServiceDefinition d = loop(name, extra).inProcess(LoopTestDaemon::new).build();
    started.add(d);
    return d;
  }

  private DaemonClient client(ServiceDefinition d) {
    DaemonClient c = DaemonClient.create(broker, d, Duration.ofSeconds(30));
    clients.add(c);
    return c;
  }

  private static Set<Thread> threadsOf(String prefix) {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive() && t.getName().startsWith(prefix))
        .collect(Collectors.toSet());
  }

  @Test
  void servesTheSameRequestsAsASpawnedDaemonOfTheSameBackend() throws Exception {
    ServiceDefinition spawned = loop("loop").build();
    started.add(spawned);
    ServiceDefinition local = inProcess("loop");
    List<String> requests = List.of("echo one", "echo two words", "echo ");
    List<String> fromDaemon = new ArrayList<>();
    List<String> fromJvm = new ArrayList<>();
    for (String r : requests) {
      fromDaemon.add(client(spawned).call(r, Codec.utf8()));
      fromJvm.add(client(local).call(r, Codec.utf8()));
    }
    assertEquals(fromDaemon, fromJvm);
    assertEquals(List.of("one", "two words", ""), fromJvm);
    long self = ProcessHandle.current().pid();
    assertEquals(Long.toString(self), client(local).call("pid", Codec.utf8()));
    assertNotEquals(Long.toString(self), client(spawned).call("pid", Codec.utf8()));
    DaemonInfo info = broker.ensureRunning(local);
    assertEquals(self, info.pid());
    assertEquals(DaemonInfo.Stage.SERVING, info.stage());
    Path endpoint = info.endpoint().path().orElseThrow();
    assertFalse(endpoint.startsWith(dir()), "the in-process endpoint " + endpoint + " is in the shared directory");
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(endpoint.getParent())));
  }

  @Test
  void aSecondEnsureRunningReusesTheBackendAndStatusReportsIt() throws Exception {
    ServiceDefinition local = inProcess("reuse");
    DaemonInfo first = broker.ensureRunning(local);
    assertEquals(Optional.of(SpawnReason.ABSENT), first.spawnReason());
    DaemonInfo second = broker.ensureRunning(local);
    assertFalse(second.spawned());
    assertEquals(first.instanceId(), second.instanceId());
    assertEquals(first.endpoint(), second.endpoint());
    assertEquals("x", client(local).call("echo x", Codec.utf8())); // the loop marks the context ready
    ServiceStatus st = broker.status(local);
    ServiceStatus.Running running = assertInstanceOf(ServiceStatus.Running.class, st);
    assertTrue(running.ready());
    assertEquals(first.instanceId(), running.daemon().instanceId());
  }

  @Test
  void listNeverShowsAnInProcessBackend() throws Exception {
    ServiceDefinition local = inProcess("hidden");
    broker.ensureRunning(local);
    assertEquals(List.of(), broker.list(dir()));
    assertEquals(List.of(), broker.list(broker.ensureRunning(local).endpoint().path().orElseThrow().getParent()));
    try (var files = Files.list(dir())) {
      assertEquals(List.of(), files.toList(), "the in-process backend wrote into the runtime directory");
    }
  }

  @Test
  void stopEndsItRemovingItsFilesAndThreads() throws Exception {
    Set<Thread> before = threadsOf("fastbind-");
    ServiceDefinition local = inProcess("stopped");
    DaemonInfo info = broker.ensureRunning(local);
    assertEquals("up", client(local).call("echo up", Codec.utf8()));
    Path privateDir = info.endpoint().path().orElseThrow().getParent();
    assertTrue(Files.isDirectory(privateDir));
    assertFalse(threadsOf("fastbind-in-process-stopped").isEmpty());

    assertEquals(StopResult.SHUT_DOWN, broker.stop(local, Duration.ofSeconds(5)));
    assertFalse(Files.exists(privateDir), privateDir + " is left");
    Await.until(Duration.ofSeconds(30), () -> {
      Set<Thread> now = threadsOf("fastbind-");
      now.removeAll(before);
      return now.isEmpty();
    }, () -> "threads left after stop: " + threadsOf("fastbind-").stream().filter(t -> !before.contains(t))
        .map(Thread::getName).toList());
    ServiceStatus.Absent absent = assertInstanceOf(ServiceStatus.Absent.class, broker.status(local));
    assertEquals(DeathRecord.Cause.SHUTDOWN_REQUEST, absent.lastDeath().orElseThrow().cause());
    assertEquals(StopResult.NOT_RUNNING, broker.stop(local));
    DaemonInfo again = broker.ensureRunning(local);
    assertNotEquals(info.instanceId(), again.instanceId());
    assertEquals(Optional.of(SpawnReason.DEAD_PID), again.spawnReason());
  }

  @Test
  void aBackendWhoseServeThrowsIsReportedDeadWithTheException() throws Exception {
    ServiceDefinition local = inProcess("thrower", "--after-ready=throw");
    DaemonInfo info = broker.ensureRunning(local);
    ServiceStatus.Absent absent = Await.value(Duration.ofSeconds(30), () -> {
      try {
        ServiceStatus st = broker.status(local);
        return st instanceof ServiceStatus.Absent a ? Optional.of(a) : Optional.empty();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }, () -> "the backend whose serve threw is still reported running");
    DeathRecord death = absent.lastDeath().orElseThrow();
    assertEquals(DeathRecord.Cause.SERVE_THREW, death.cause());
    assertEquals(info.instanceId(), death.instanceId());
    assertTrue(death.detail().contains("the index is corrupt"), death.detail());
    assertTrue(death.logTail().contains("LoopTestDaemon.serve"), death.logTail());
    assertEquals(Optional.of(death), broker.lastDeath(local));
    assertFalse(Files.exists(info.endpoint().path().orElseThrow()));
  }

  @Test
  void anInProcessDefinitionNeedsNoCommandAndWinsOverOne() throws Exception {
    ServiceDefinition only = ServiceDefinition.builder("only").inProcess(LoopTestDaemon::new).build();
    started.add(only);
    assertEquals(ProcessHandle.current().pid(), broker.ensureRunning(only).pid());
    IllegalStateException both = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> ServiceDefinition.builder("both").command("/bin/true").javaMain("x.Y").inProcess(LoopTestDaemon::new)
            .build());
    assertTrue(both.getMessage().contains("not both of command and javaMain"), both.getMessage());
    IllegalStateException none = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> ServiceDefinition.builder("none").build());
    assertTrue(none.getMessage().contains("inProcess(...)"), none.getMessage());
  }

  @Test
  void aBindFailureIsAStartFailureNamingIt() throws Exception {
    ServiceDefinition local = ServiceDefinition.builder("unbindable").inProcess(() -> new dev.fastbind.backend.BrokeredBackend() {
      @Override
      public dev.fastbind.backend.IpcListener bind(dev.fastbind.backend.Endpoint endpoint) {
        throw new IllegalStateException("no sockets today");
      }

      @Override
      public dev.fastbind.backend.Never serve(dev.fastbind.backend.IpcListener l, dev.fastbind.backend.ServeContext c) {
        throw new AssertionError("serve without bind");
      }
    }).build();
    DaemonStartException e = org.junit.jupiter.api.Assertions.assertThrows(DaemonStartException.class,
        () -> broker.ensureRunning(local));
    assertEquals(DaemonStartException.Failure.REPORTED_FAILURE, e.failure());
    assertTrue(e.getMessage().contains("no sockets today"), e.getMessage());
  }
}
