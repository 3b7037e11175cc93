package dev.fastbind.broker.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.internal.InProcess;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.DaemonStartException;
import dev.fastbind.broker.DeathRecord;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import dev.fastbind.broker.SpawnReason;
import dev.fastbind.broker.StopResult;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The in-process daemons of one broker: at most one per service name, each an {@link InProcess} in
 * a private temporary directory ({@code <java.io.tmpdir>/fastbind-<service>-…}, owner-only) that
 * nothing outside this JVM knows of. The shared runtime directory is not touched, so {@code list},
 * {@code clean} and other launchers never see them. One lock guards the table; starting and stopping
 * hold it, which serialises them per broker as the spawn lock does for daemon processes.
 */
public final class InProcessDaemons {

  private final Map<String, Slot> slots = new HashMap<>();
  private final Map<String, DeathRecord> deaths = new HashMap<>();

  private record Slot(InProcess running, DaemonInfo info, long startedAtMillis) {}

  /** The running backend of {@code definition}, started now (once) when none serves. */
  public synchronized DaemonInfo ensureRunning(ServiceDefinition definition, long startNanos) throws IOException {
    Slot slot = current(definition);
    if (slot != null) {
      return slot.info().withElapsed(Duration.ofNanos(System.nanoTime() - startNanos));
    }
    DeathRecord last = deaths.get(definition.name());
    return start(definition, startNanos, last == null ? SpawnReason.ABSENT : SpawnReason.DEAD_PID,
        last == null ? "" : "the in-process backend ended: " + last.summary());
  }

  /** Stops the running backend, if any, and starts a new one. */
  public synchronized DaemonInfo replace(ServiceDefinition definition, long startNanos) throws IOException {
    StopResult stopped = stop(definition, ServiceDefinition.DEFAULT_STOP_GRACE);
    return start(definition, startNanos, SpawnReason.REPLACE_REQUESTED,
        stopped == StopResult.NOT_RUNNING ? "replacement requested; none ran" : "replacement requested");
  }

  private DaemonInfo start(ServiceDefinition definition, long startNanos, SpawnReason reason, String detail)
      throws IOException {
    String service = definition.name();
    BrokeredBackend backend = definition.inProcessBackend().orElseThrow().get();
    if (backend == null) {
      throw new IllegalStateException("service '" + service + "': the in-process supplier returned null;"
          + " return a new backend from it");
    }
    Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "fastbind-" + service + "-",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    dir.toFile().deleteOnExit(); // after the sockets (deleted first, in reverse order) if the JVM ends first
    InProcess running;
    try {
      running = InProcess.start(service, definition.version().orElse(""), backend, dir, definition.arguments());
    } catch (BindException e) {
      Files.deleteIfExists(dir);
      throw new DaemonStartException(service, DaemonStartException.Failure.REPORTED_FAILURE,
          Duration.ofNanos(System.nanoTime() - startNanos), -1, -1, "in-process bind failed: " + e.getMessage(),
          dir.resolve(service + ".log"), "");
    }
    running.endpoint().path().ifPresent(p -> p.toFile().deleteOnExit());
    running.controlEndpoint().path().ifPresent(p -> p.toFile().deleteOnExit());
    DaemonInfo info = new DaemonInfo(service, running.endpoint(), running.controlEndpoint(),
        ProcessIdentity.currentPid(), running.instanceId(), definition.version(), Optional.of(reason), detail,
        Duration.ofNanos(System.nanoTime() - startNanos), DaemonInfo.Stage.SERVING);
    slots.put(service, new Slot(running, new DaemonInfo(service, info.endpoint(), info.controlEndpoint(), info.pid(),
        info.instanceId(), info.version(), Optional.empty(), "", Duration.ZERO, DaemonInfo.Stage.SERVING),
        System.currentTimeMillis()));
    return info;
  }

  /** What serves now; a backend that ended by itself is moved to the death records. */
  private Slot current(ServiceDefinition definition) {
    Slot slot = slots.get(definition.name());
    if (slot == null) {
      return null;
    }
    if (slot.running().serving()) {
      return slot;
    }
    bury(definition.name(), slot);
    return null;
  }

  private void bury(String service, Slot slot) {
    slots.remove(service);
    Optional<InProcess.Ended> ended = slot.running().ended();
    if (ended.isEmpty()) {
      // Ending on another thread right now (its shutdown actions run): wait for the record of how.
      try {
        slot.running().awaitEnd(Duration.ofSeconds(10));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      ended = slot.running().ended();
      if (ended.isEmpty()) {
        return;
      }
    }
    InProcess.Ended e = ended.get();
    String tail = e.thrown().map(InProcessDaemons::stackTrace).orElse("");
    deaths.put(service, new DeathRecord(service, slot.info().pid(), slot.info().instanceId(),
        DeathRecord.Cause.valueOf(e.cause().name()), e.detail(), OptionalInt.empty(),
        Instant.ofEpochMilli(e.endedAtMillis()), Optional.of(Duration.ofMillis(Math.max(0,
            e.endedAtMillis() - slot.startedAtMillis()))), e.thrown().orElse(null) instanceof OutOfMemoryError,
        Optional.empty(), false, tail));
  }

  private static String stackTrace(Throwable t) {
    StringWriter w = new StringWriter();
    t.printStackTrace(new PrintWriter(w));
    String[] lines = w.toString().split("\n", 41);
    return String.join("\n", java.util.Arrays.asList(lines).subList(0, Math.min(40, lines.length))).stripTrailing();
  }

  /** What runs in-process for {@code definition}: {@link ServiceStatus.Running} or {@link ServiceStatus.Absent}. */
  public synchronized ServiceStatus status(ServiceDefinition definition) {
    Slot slot = current(definition);
    if (slot == null) {
      return new ServiceStatus.Absent(definition.name(), Optional.ofNullable(deaths.get(definition.name())));
    }
    HelloReply hello = slot.running().hello();
    return new ServiceStatus.Running(slot.info(), hello.state() == DaemonState.READY, hello.progressPercent(),
        hello.phase());
  }

  /**
   * Stops the backend: its {@code serve} thread interrupted, its listener closed, its shutdown actions
   * run, its directory removed; waits up to {@code grace} for the thread to end.
   */
  public synchronized StopResult stop(ServiceDefinition definition, Duration grace) throws IOException {
    Slot slot = current(definition);
    if (slot == null) {
      return StopResult.NOT_RUNNING;
    }
    try {
      if (!slot.running().stop(grace)) {
        System.err.println("fastbind: " + definition.name() + ": the in-process serve thread did not end within "
            + grace + " of being interrupted; its endpoints are closed");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while stopping the in-process '" + definition.name() + "'");
    } finally {
      bury(definition.name(), slot);
    }
    return StopResult.SHUT_DOWN;
  }

  /** How the last in-process backend of {@code definition} ended, if one did. */
  public synchronized Optional<DeathRecord> lastDeath(ServiceDefinition definition) {
    current(definition);
    return Optional.ofNullable(deaths.get(definition.name()));
  }
}
