package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.SocketHolders;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.wire.LockfileException;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.broker.CrashLoopException;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.DaemonStartException;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.SpawnReason;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The cold start: the crash-loop guard, a detached spawn, the wait for {@code READY} confirmed by a
 * connect, and the clean-up of a start that failed, all within one deadline (see {@link #spawn}).
 * The caller holds the service's spawn lock and has cleared the way ({@link Trust#clearEndpoints}).
 */
public final class ColdStart {

  private final Metrics metrics;

  /** A cold start that records spawn and readiness timings in {@code metrics}. */
  public ColdStart(Metrics metrics) {
    this.metrics = metrics;
  }

  /**
   * How far past its probe budget a failed spawn may run: the {@code SIGKILL} of the child's group and
   * the wait for the child (the broker's own child, so reaped at once) to be gone. Grandchildren
   * receive the same {@code SIGKILL} but are not waited for past this margin.
   */
  public static final Duration KILL_MARGIN = Duration.ofMillis(250);

  /**
   * Spawns the daemon, within one deadline: the definition's probe budget from the moment the spawn
   * starts, for the first attempt and the class-data-sharing retry together, plus
   * {@link #KILL_MARGIN} to kill a child that missed it.
   */
  public DaemonInfo spawn(ServiceDefinition definition, ServiceLayout paths, SpawnReason reason, String detail,
      long start) throws IOException {
    return spawn(definition, paths, reason, detail, start, null, null);
  }

  /**
   * {@link #spawn(ServiceDefinition, ServiceLayout, SpawnReason, String, long)}, with the listener
   * hand-off when the definition asks for it: then this returns as soon as the endpoint is bound and
   * the daemon's process runs ({@link DaemonInfo.Stage#BOUND}), and the rest of the start (the
   * hand-off itself, the wait for readiness, the clean-up of a failure) finishes on a thread of its
   * own, which takes over {@code lock} and releases it at the end. {@code predecessor} is the
   * listening socket taken from a daemon being replaced, given on instead of a fresh bind; null for a
   * cold start. Without the hand-off, {@code lock} stays with the caller.
   */
  public DaemonInfo spawn(ServiceDefinition definition, ServiceLayout paths, SpawnReason reason, String detail,
      long start, SpawnLock lock, java.io.FileDescriptor predecessor) throws IOException {
    // The log first: a hostile file there is reported without using up a crash-loop slot.
    long logFrom = LogFiles.prepare(paths.log(), definition.logGenerations());
    // So is the notify socket's path: a refusal about it is not a spawn and must not count as one.
    RuntimeFiles.clearDeadSocket(paths.notifySocket());
    long now = System.nanoTime();
    Optional<Duration> wait = CrashLoopGuard.tryRecord(paths.spawns(), definition.crashLoopSpawns(),
        definition.crashLoopPeriod(), now);
    if (wait.isPresent()) {
      throw new CrashLoopException(definition.name(), definition.crashLoopSpawns(), definition.crashLoopPeriod(),
          wait.get(), paths.log(), LogFiles.tail(paths.log(), 0));
    }
    long budget = definition.probeBudget().toNanos();
    long deadline = System.nanoTime() + budget;
    SharedArchive.Plan sharing = SharedArchive.plan(definition, paths.directory());
    if (lock != null && (definition.listenerHandoff() || predecessor != null)) {
      return Handoffs.spawn(this, definition, paths, reason, detail, start, logFrom, sharing, deadline, lock,
          predecessor);
    }
    try {
      return spawnOnce(definition, paths, reason, detail, start, logFrom, sharing, deadline);
    } catch (DaemonStartException e) {
      // A damaged class-data archive can stop a JVM before main: a JDK 17 hits SIGBUS mapping it and
      // its error handler exits with status 1, so the exit status cannot tell it from a daemon
      // failing for its own reasons (which then starts twice and loses its archive). Drop the archive
      // and start once without (a fresh one is written at the next normal exit), in what is left of
      // the same budget, and only when at least half of it is left: a retry that cannot finish would
      // only hide the first failure's reason. Same log, same spawn record.
      if (!sharing.readsArchive() || e.failure() != DaemonStartException.Failure.EXITED
          || deadline - System.nanoTime() < budget / 2) {
        throw e;
      }
      SharedArchive.delete(sharing.archive());
      return spawnOnce(definition, paths, reason, detail, start, logFrom,
          SharedArchive.plan(definition, paths.directory()), deadline);
    }
  }

  private DaemonInfo spawnOnce(ServiceDefinition definition, ServiceLayout paths, SpawnReason reason, String detail,
      long start, long logFrom, SharedArchive.Plan sharing, long deadline) throws IOException {
    String mode = definition.javaMainClass().isPresent() ? "java" : "command";
    try (ReadinessWait notify = ReadinessWait.bind(paths.notifySocket())) {
      long spawnStart = System.nanoTime();
      Process child = Spawner.spawn(definition, paths, notify.path(), sharing);
      metrics.spawn(mode, System.nanoTime() - spawnStart);
      return awaitServing(definition, paths, child, notify, reason, detail, start, spawnStart, logFrom, deadline);
    }
  }

  /** A private worker that serves: its process (this JVM's child) and what its start returned. */
  public record Worker(Process process, DaemonInfo info) {}

  /**
   * Starts a private worker of {@code definition} in {@code paths}, a directory only its pool uses,
   * and waits until it serves or {@code deadline} ({@link System#nanoTime()}) passes. Unlike
   * {@link #spawn}, no spawn lock and no crash-loop guard: nobody else starts daemons there, and the
   * pool's supervision bounds restarts. Its standard input is a pipe from this JVM ({@code Env.OWNER}),
   * so it ends with its owner. {@code spawned} is told the process as soon as it exists (so that a
   * pool closing meanwhile can kill it). A start that fails is cleaned up (its tree killed, its files
   * removed) and thrown, as for a shared daemon.
   */
  public Worker startWorker(ServiceDefinition definition, ServiceLayout paths, SharedArchive.Plan sharing,
      SpawnReason reason, String detail, long deadline, java.util.function.Consumer<Process> spawned)
      throws IOException {
    long start = System.nanoTime();
    long logFrom = LogFiles.prepare(paths.log(), definition.logGenerations());
    RuntimeFiles.clearDeadSocket(paths.notifySocket());
    String mode = definition.javaMainClass().isPresent() ? "java" : "command";
    try (ReadinessWait notify = ReadinessWait.bind(paths.notifySocket())) {
      long spawnStart = System.nanoTime();
      Process child = Spawner.spawn(definition, paths, notify.path(), sharing,
          java.util.Map.of(dev.fastbind.backend.internal.wire.Env.OWNER, Long.toString(ProcessHandle.current().pid())),
          true);
      spawned.accept(child);
      metrics.spawn(mode, System.nanoTime() - spawnStart);
      DaemonInfo info = awaitServing(definition, paths, child, notify, reason, detail, start, spawnStart, logFrom,
          deadline);
      return new Worker(child, info);
    }
  }

  /**
   * Waits for {@code child}'s {@code READY}, confirmed by a connect, until {@code deadline}; on any
   * other outcome kills what it started, removes its files and throws. Records the readiness metric.
   */
  DaemonInfo awaitServing(ServiceDefinition definition, ServiceLayout paths, Process child, ReadinessWait notify,
      SpawnReason reason, String detail, long start, long spawnStart, long logFrom, long deadline) throws IOException {
    boolean ready = false;
    String readiness = "failed";
    Throwable failed = null;
    DaemonStartException f;
    try {
      ReadinessWait.Outcome outcome = notify.await(child, deadline);
      if (outcome instanceof ReadinessWait.Message m && m.message().kind() == Readiness.Kind.READY) {
        Readiness.Message msg = m.message();
        if (!Probe.connects(paths.endpoint().path().orElseThrow())) {
          failed = f = failure(definition, paths, DaemonStartException.Failure.NOT_CONNECTABLE, spawnStart, -1,
              "READY from pid " + msg.pid() + " but nothing listens at " + paths.endpoint(), logFrom);
          throw f;
        }
        DaemonInfo info = readyInfo(definition, paths, msg, reason, detail, start);
        ready = true;
        readiness = "ready";
        return info;
      }
      if (outcome instanceof ReadinessWait.Message m) {
        failed = f = failure(definition, paths, DaemonStartException.Failure.REPORTED_FAILURE, spawnStart,
            exitStatusIfExited(child), "it said: " + m.message().reason(), logFrom);
        throw f;
      }
      if (outcome instanceof ReadinessWait.Exited e) {
        failed = f = failure(definition, paths, DaemonStartException.Failure.EXITED, spawnStart, e.status(), "",
            logFrom);
        throw f;
      }
      readiness = "timeout";
      failed = f = failure(definition, paths, DaemonStartException.Failure.TIMED_OUT, spawnStart, -1,
          "no READY on the notify socket", logFrom);
      throw f;
    } catch (IOException | RuntimeException e) {
      if (failed == null) {
        failed = e;
      }
      throw e;
    } finally {
      if (!ready) {
        cleanUpFailed(definition, paths, child, deadline, failed);
      }
      metrics.readiness(readiness, System.nanoTime() - spawnStart);
    }
  }

  /**
   * After a start that failed: kills the child's tree and whatever escaped it holding the endpoints
   * (waiting at most {@link #KILL_MARGIN} past {@code deadline}), removes a lockfile the child wrote
   * and the dead endpoint files.
   */
  static void cleanUpFailed(ServiceDefinition definition, ServiceLayout paths, Process child, long deadline,
      Throwable failed) {
    long killDeadline = Math.max(deadline, System.nanoTime()) + KILL_MARGIN.toNanos();
    ProcessTree.killTree(child.toHandle(), Spawner.detaches(), killDeadline);
    killEscapedHolders(paths, killDeadline);
    Optional<LockfileRecord> left = readQuietly(paths);
    if (left.isPresent() && left.get().pid() == child.pid()) {
      try {
        Lockfiles.deleteIfOwnedBy(paths.lockfile(), left.get().instanceId());
      } catch (RuntimeException e) {
        // reported by the next call as a stale record
      }
    }
    Trust.clearEndpointsQuietly(definition, paths, failed);
    Deaths.startFailed(definition, paths, child, failed);
  }

  Metrics metrics() {
    return metrics;
  }

  static int exitStatusIfExited(Process child) {
    try {
      return child.waitFor(50, TimeUnit.MILLISECONDS) ? child.exitValue() : -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  static DaemonStartException failure(ServiceDefinition definition, ServiceLayout paths,
      DaemonStartException.Failure failure, long spawnStart, int status, String detail, long logFrom) {
    Duration elapsed = Duration.ofNanos(System.nanoTime() - spawnStart);
    int signal = status > 128 && status < 128 + 65 ? status - 128 : -1;
    return new DaemonStartException(definition.name(), failure, elapsed, signal > 0 ? -1 : status, signal,
        detail, paths.log(), LogFiles.tail(paths.log(), logFrom));
  }

  static Optional<LockfileRecord> readQuietly(ServiceLayout paths) {
    try {
      return Lockfiles.read(paths.lockfile());
    } catch (LockfileException e) {
      return Optional.empty();
    }
  }

  static DaemonInfo readyInfo(ServiceDefinition definition, ServiceLayout paths, Readiness.Message msg,
      SpawnReason reason, String detail, long start) {
    Optional<LockfileRecord> r = readQuietly(paths).filter(rec -> rec.instanceId().equals(msg.instanceId()));
    if (r.isPresent()) {
      return Assessor.info(definition, r.get(), Optional.of(reason), detail, start);
    }
    return new DaemonInfo(definition.name(), paths.endpoint(), paths.controlEndpoint(), msg.pid(), msg.instanceId(),
        Optional.empty(), Optional.of(reason), detail, Duration.ofNanos(System.nanoTime() - start));
  }

  /**
   * Kills what the failed daemon left holding the service's endpoints after escaping its process
   * group and tree (a double fork with {@code setsid}): a process that holds a listener bound at one
   * of the endpoints, runs as this user and carries this spawn's environment mark. The endpoints were
   * free when the spawn began (the caller cleared them under the spawn lock), so such a process can
   * only have come from this spawn.
   */
  static void killEscapedHolders(ServiceLayout paths, long deadlineNanos) {
    java.util.List<ProcessHandle> escaped = new java.util.ArrayList<>();
    for (dev.fastbind.backend.Endpoint e : new dev.fastbind.backend.Endpoint[] {paths.endpoint(), paths.controlEndpoint()}) {
      for (SocketHolders.Holder h : SocketHolders.holders(e)) {
        if (h.pid() > 1 && h.pid() != ProcessHandle.current().pid() && h.uid() == ProcessIdentity.currentUid()
            && DaemonVerification.startedByABroker(h.pid(), paths)) {
          ProcessHandle.of(h.pid()).ifPresent(escaped::add);
        }
      }
    }
    for (ProcessHandle h : escaped) {
      ProcessTree.killTree(h, false, deadlineNanos);
    }
  }
}
