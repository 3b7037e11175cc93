package dev.fastbind.broker;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.Bootstrap;
import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.ControlProtocolException;
import dev.fastbind.backend.internal.DaemonState;
import dev.fastbind.backend.internal.HelloReply;
import dev.fastbind.backend.internal.LockfileException;
import dev.fastbind.backend.internal.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.Readiness;
import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.broker.internal.CrashLoopGuard;
import dev.fastbind.broker.internal.LogFiles;
import dev.fastbind.broker.internal.Metrics;
import dev.fastbind.broker.internal.MicrometerMetrics;
import dev.fastbind.broker.internal.Probe;
import dev.fastbind.broker.internal.ProcStat;
import dev.fastbind.broker.internal.ProcessTree;
import dev.fastbind.broker.internal.ProcessWatch;
import dev.fastbind.broker.internal.ReadinessWait;
import dev.fastbind.broker.internal.ServicePaths;
import dev.fastbind.broker.internal.SharedArchive;
import dev.fastbind.broker.internal.SpawnLock;
import dev.fastbind.broker.internal.Spawner;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Makes sure a service's daemon is running, reports on it, and stops it. What a launcher embeds.
 *
 * <p><b>{@link #ensureRunning}</b> first takes the hot path, without any lock: read the lockfile,
 * check that its pid is alive with the recorded start time and boot id, and that the endpoint accepts
 * a connection. That is what every launcher invocation pays, so it is kept to twelve system calls
 * and no exception, regular expression or lambda: one {@code lstat} of the runtime directory, one of
 * the lockfile and one read of it, one read of {@code /proc/<pid>/stat} (through a handle this broker
 * keeps open on the daemon it last found, which stays bound to that process, so pid reuse cannot fool
 * it; it answers "same process?" and "stopped?" at once), and one non-blocking connect (a socket, two
 * {@code fcntl}s, the connect, the JDK's {@code getsockname}, a close). Otherwise it takes the cold
 * path: an exclusive per-service file lock (so fifty launchers started at once spawn one daemon), a second
 * look, cleanup of stale state (the reason is reported as a {@link SpawnReason}), the crash-loop
 * guard, then a detached spawn and a wait for the daemon's {@code READY} on a notify socket, confirmed
 * by a connect, all within the definition's probe budget. A daemon that exits first or stays silent
 * has its whole process group killed and its lockfile removed, and the call throws
 * {@link DaemonStartException} with the exit status and the daemon's log tail.
 *
 * <p><b>{@link #status}</b> reads without changing anything; for a live daemon it asks
 * {@code HELLO} on the control endpoint. <b>{@link #stop}</b> asks {@code SHUTDOWN}, then sends
 * {@code SIGTERM}, then kills the daemon's process group when the grace period ends; it is
 * idempotent.
 *
 * <p><b>Files.</b> For service {@code s} the runtime directory holds {@code s.sock} (endpoint),
 * {@code s.ctl} (control endpoint), {@code s.lock} (lockfile), {@code s.spawn-lock} (the cold-path
 * lock), {@code s.log} (the daemon's output), {@code s.spawns} (crash-loop count), for a Java daemon
 * its class-data sharing archive {@code s.<key>.jsa} (see {@link ServiceDefinition}) and, during a
 * spawn, {@code s.notify}. The directory is checked to be owner-only on every call.
 *
 * <p><b>Metrics.</b> {@link #create(MeterRegistry)} records {@code fastbind.broker.*} timers;
 * {@link #create()} records nothing and never loads Micrometer.
 *
 * <p>Thread-safe; one instance can serve a whole application. Calls that spawn or stop block for at
 * most the probe budget or grace period plus process clean-up.
 */
public final class Broker {

  private final Metrics metrics;
  private final ProcessWatch watch = new ProcessWatch();
  private volatile PathsOf lastPaths;

  private Broker(Metrics metrics) {
    this.metrics = metrics;
  }

  /** A broker that records no metrics. */
  public static Broker create() {
    return new Broker(Metrics.NONE);
  }

  /** A broker that records its timings in {@code registry}. */
  public static Broker create(MeterRegistry registry) {
    return new Broker(new MicrometerMetrics(Objects.requireNonNull(registry, "registry")));
  }

  /** The runtime directory {@code definition} uses: its own, or the per-user default. */
  public static Path runtimeDirectory(ServiceDefinition definition) {
    Optional<Path> given = definition.runtimeDirectory();
    return given.isPresent() ? given.get() : RuntimeDirectory.defaultFor(Bootstrap.APP);
  }

  /**
   * Returns the running daemon of {@code definition}, spawning it when there is none.
   *
   * @throws DaemonStartException if a spawned daemon exited, reported a failure or was not ready in time
   * @throws CrashLoopException if the service was spawned too often recently; nothing was spawned
   * @throws DaemonUnresponsiveException if the recorded daemon is stopped or wedged and the
   *     definition says {@link UnresponsivePolicy#REPORT}
   * @throws VersionMismatchException if the running version differs and the definition says
   *     {@link VersionPolicy#FAIL}
   * @throws SpawnLockTimeoutException if another launcher held the spawn lock beyond the definition's
   *     {@linkplain ServiceDefinition#spawnLockPatience() patience}; nothing was changed
   * @throws java.nio.file.FileSystemException if the runtime directory is not owner-only
   * @throws IOException for other I/O failures in the runtime directory
   */
  public DaemonInfo ensureRunning(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    long start = System.nanoTime();
    String outcome = "failed";
    try {
      ServicePaths paths = prepare(definition);
      Assessment hot = assess(definition, paths);
      Optional<Decision> replace = Optional.empty();
      if (hot instanceof Healthy h) {
        Decision d = decide(definition, h, start);
        if (d.reuse().isPresent()) {
          outcome = "reused";
          return d.reuse().get();
        }
        replace = Optional.of(d);
      }
      DaemonInfo info = coldPath(definition, paths, start, replace);
      outcome = info.spawned() ? "spawned" : "reused";
      return info;
    } finally {
      metrics.ensure(outcome, System.nanoTime() - start);
    }
  }

  /**
   * Reports the state of {@code definition}'s daemon without changing anything. A live daemon is asked
   * {@code HELLO}, which waits at most the probe budget.
   *
   * @throws java.nio.file.FileSystemException if the runtime directory is not owner-only
   */
  public ServiceStatus status(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    long start = System.nanoTime();
    ServicePaths paths = prepare(definition);
    Assessment a = assess(definition, paths);
    if (a instanceof Absent) {
      return new ServiceStatus.Absent(definition.name());
    }
    if (a instanceof Stale s) {
      return new ServiceStatus.Stale(definition.name(), s.reason(), s.detail());
    }
    LockfileRecord r = ((Healthy) a).record();
    try {
      HelloReply hello = ControlClient.hello(r.controlEndpoint(), definition.probeBudget());
      DaemonInfo info = info(definition, r, Optional.empty(), "", start);
      return new ServiceStatus.Running(info, hello.state() == DaemonState.READY, hello.progressPercent(),
          hello.phase());
    } catch (ControlProtocolException e) {
      throw e; // something answered, but not in our protocol: not a question of responsiveness
    } catch (IOException e) {
      // timed out, refused (a full backlog) or hung up (stopping, or its connection cap reached)
      return new ServiceStatus.Unresponsive(definition.name(), r.pid(), definition.probeBudget(),
          describeUnresponsive(r.pid(), e));
    }
  }

  /** Stops {@code definition}'s daemon with the default grace period of 5 s; see {@link #stop(ServiceDefinition, Duration)}. */
  public StopResult stop(ServiceDefinition definition) throws IOException {
    return stop(definition, ServiceDefinition.DEFAULT_STOP_GRACE);
  }

  /**
   * Stops {@code definition}'s daemon: {@code SHUTDOWN} over the control endpoint, then
   * {@code SIGTERM}, then {@code SIGKILL} of its process group once {@code grace} has passed since
   * the call began. Removes the lockfile and socket files if the daemon left them. Idempotent: a
   * service that is not running yields {@link StopResult#NOT_RUNNING}. Holds the service's spawn lock,
   * so no launcher spawns a new daemon halfway through.
   *
   * @throws SpawnLockTimeoutException if another launcher held the spawn lock beyond the definition's
   *     {@linkplain ServiceDefinition#spawnLockPatience() patience}; nothing was changed
   */
  public StopResult stop(ServiceDefinition definition, Duration grace) throws IOException {
    Objects.requireNonNull(definition, "definition");
    Objects.requireNonNull(grace, "grace");
    if (grace.isNegative()) {
      throw new IllegalArgumentException("grace must not be negative, got " + grace);
    }
    ServicePaths paths = prepare(definition);
    try (SpawnLock lock = SpawnLock.acquire(paths.spawnLock(), definition.name(), definition.spawnLockPatience())) {
      Assessment a = assess(definition, paths);
      if (a instanceof Absent) {
        return removeLeftoverSockets(paths) ? StopResult.CLEANED_STALE : StopResult.NOT_RUNNING;
      }
      if (a instanceof Stale s) {
        clearStale(paths, s);
        return StopResult.CLEANED_STALE;
      }
      StopResult result = terminate(definition, paths, ((Healthy) a).record(), grace);
      return result;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Assessment: what the lockfile and the process table say, without changing anything.

  private sealed interface Assessment {}

  private record Absent() implements Assessment {}

  /** A stale record; {@code record} is present when the lockfile could be read. */
  private record Stale(SpawnReason reason, String detail, Optional<LockfileRecord> record, boolean processAlive)
      implements Assessment {}

  /** A live daemon; {@code stat} is the one procfs reading the identity check made (null without procfs). */
  private record Healthy(LockfileRecord record, ProcessIdentity.Stat stat) implements Assessment {}

  /** The directory is checked on every call; the paths in it are remembered for the last service asked about. */
  private ServicePaths prepare(ServiceDefinition definition) throws IOException {
    Path dir = runtimeDirectory(definition);
    RuntimeDirectory.ensureOwnerOnly(dir);
    PathsOf last = lastPaths;
    if (last != null && last.service().equals(definition.name()) && last.directory().equals(dir)) {
      return last.paths();
    }
    ServicePaths paths = ServicePaths.of(definition.name(), dir);
    lastPaths = new PathsOf(definition.name(), dir, paths);
    return paths;
  }

  private record PathsOf(String service, Path directory, ServicePaths paths) {}

  private Assessment assess(ServiceDefinition definition, ServicePaths paths) {
    Optional<LockfileRecord> read;
    try {
      read = Lockfiles.read(paths.lockfile());
    } catch (LockfileException e) {
      return new Stale(SpawnReason.CORRUPT_LOCKFILE, e.reason() + ": " + e.getMessage(), Optional.empty(), false);
    }
    if (read.isEmpty()) {
      return new Absent();
    }
    LockfileRecord r = read.get();
    if (!r.service().equals(definition.name())) {
      return new Stale(SpawnReason.CORRUPT_LOCKFILE, "FOREIGN: lockfile " + paths.lockfile()
          + " names service '" + r.service() + "'", Optional.empty(), false);
    }
    if (!r.bootId().equals(ProcessIdentity.bootId())) {
      return new Stale(SpawnReason.REBOOTED, "lockfile written before the last boot (pid " + r.pid() + ")",
          Optional.of(r), false);
    }
    // One procfs read answers both "same process?" here and "stopped?" in decide().
    ProcessIdentity.Stat stat = watch.stat(r.pid());
    String started;
    if (stat != null) {
      started = stat.exited() ? null : stat.startTime();
    } else {
      started = ProcessIdentity.startTime(r.pid()).orElse(null); // no procfs: the portable check
    }
    if (started == null) {
      return new Stale(SpawnReason.DEAD_PID, "pid " + r.pid() + " is not running", Optional.of(r), false);
    }
    if (!started.equals(r.processStartTime())) {
      return new Stale(SpawnReason.PID_REUSED, "pid " + r.pid() + " now belongs to another process (started "
          + started + ", lockfile says " + r.processStartTime() + ")", Optional.of(r), false);
    }
    long t = System.nanoTime();
    Optional<Path> socket = r.endpoint().path();
    boolean connects = socket.isEmpty() || Probe.connects(socket.get());
    metrics.probe(connects, System.nanoTime() - t);
    if (!connects) {
      return new Stale(SpawnReason.UNCONNECTABLE_SOCKET, "pid " + r.pid() + " is alive but " + r.endpoint()
          + " refuses connections", Optional.of(r), true);
    }
    return new Healthy(r, stat);
  }

  // ---------------------------------------------------------------------------------------------
  // Hot path.

  /** What to do with a healthy-looking daemon: reuse it, or replace it on the cold path and why. */
  private record Decision(Optional<DaemonInfo> reuse, String instanceId, SpawnReason reason, String detail) {}

  /**
   * Decides whether the healthy-looking daemon can be reused.
   *
   * @throws VersionMismatchException if versions differ and the policy is {@link VersionPolicy#FAIL}
   * @throws DaemonUnresponsiveException if it is stopped and the policy is {@link UnresponsivePolicy#REPORT}
   */
  private Decision decide(ServiceDefinition definition, Healthy h, long start) throws IOException {
    LockfileRecord r = h.record();
    if (versionDiffers(definition, r)) {
      String expected = definition.version().orElseThrow();
      if (definition.versionPolicy() == VersionPolicy.FAIL) {
        throw new VersionMismatchException(definition.name(), expected, r.daemonVersion(), r.pid());
      }
      if (definition.versionPolicy() == VersionPolicy.RESTART) {
        return new Decision(Optional.empty(), r.instanceId(), SpawnReason.VERSION_MISMATCH,
            "pid " + r.pid() + " ran version " + r.daemonVersion() + ", expected " + expected);
      }
    }
    ProcessIdentity.Stat st = h.stat();
    if (st != null && st.stopped() && !answersHello(definition, r)) {
      if (definition.unresponsivePolicy() == UnresponsivePolicy.REPORT) {
        throw new DaemonUnresponsiveException(definition.name(), r.pid(), definition.probeBudget(),
            "process state " + st.state() + ": stopped by a signal or a debugger; HELLO timed out");
      }
      return new Decision(Optional.empty(), r.instanceId(), SpawnReason.UNRESPONSIVE, "pid " + r.pid()
          + " is stopped and did not answer HELLO within " + definition.probeBudget().toMillis() + " ms");
    }
    return new Decision(Optional.of(info(definition, r, Optional.empty(), "", start)), r.instanceId(), null, "");
  }

  private static boolean versionDiffers(ServiceDefinition definition, LockfileRecord r) {
    return definition.version().isPresent() && !definition.version().get().equals(r.daemonVersion());
  }

  private static boolean answersHello(ServiceDefinition definition, LockfileRecord r) throws IOException {
    try {
      ControlClient.hello(r.controlEndpoint(), definition.probeBudget());
      return true;
    } catch (ControlProtocolException e) {
      throw e;
    } catch (IOException e) {
      return false; // timed out, refused (a full backlog) or hung up: the daemon is known to be stopped
    }
  }

  private static String describeUnresponsive(long pid, IOException e) {
    ProcStat st = ProcStat.read(pid);
    return (st != null && st.stopped() ? "process state " + st.state() + " (stopped); " : "") + e.getMessage();
  }

  // ---------------------------------------------------------------------------------------------
  // Cold path.

  private DaemonInfo coldPath(ServiceDefinition definition, ServicePaths paths, long start,
      Optional<Decision> hotDecision) throws IOException {
    try (SpawnLock lock = SpawnLock.acquire(paths.spawnLock(), definition.name(), definition.spawnLockPatience())) {
      Assessment a = assess(definition, paths);
      SpawnReason reason;
      String detail;
      if (a instanceof Healthy h) {
        String instance = h.record().instanceId();
        Decision d = hotDecision.isPresent() && hotDecision.get().instanceId().equals(instance)
            ? hotDecision.get() : decide(definition, h, start);
        if (d.reuse().isPresent()) {
          return d.reuse().get();
        }
        reason = d.reason();
        detail = d.detail();
        terminate(definition, paths, h.record(), ServiceDefinition.DEFAULT_STOP_GRACE);
      } else if (a instanceof Stale s) {
        reason = s.reason();
        detail = s.detail();
        clearStale(paths, s);
      } else {
        reason = SpawnReason.ABSENT;
        detail = "no lockfile at " + paths.lockfile();
        removeLeftoverSockets(paths);
      }
      return spawn(definition, paths, reason, detail, start);
    }
  }

  private void clearStale(ServicePaths paths, Stale s) throws IOException {
    if (s.processAlive() && s.record().isPresent() && ProcStat.isDaemonOf(s.record().get().pid(), paths.service())) {
      ProcessHandle.of(s.record().get().pid()).ifPresent(Broker::killRecorded);
    }
    if (s.record().isPresent()) {
      Lockfiles.deleteIfOwnedBy(paths.lockfile(), s.record().get().instanceId());
    } else {
      Files.deleteIfExists(paths.lockfile());
    }
    removeLeftoverSockets(paths);
  }

  private static void killRecorded(ProcessHandle h) {
    ProcStat st = ProcStat.read(h.pid());
    ProcessTree.killTree(h, st != null && st.processGroup() == h.pid(), 2000);
  }

  /** Removes socket files nobody listens on; returns whether any was removed. */
  private static boolean removeLeftoverSockets(ServicePaths paths) throws IOException {
    boolean removed = false;
    for (Endpoint e : new Endpoint[] {paths.endpoint(), paths.controlEndpoint()}) {
      Path p = e.path().orElseThrow();
      if (Files.exists(p, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)
          && !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) && !Probe.connects(p)) {
        removed |= Files.deleteIfExists(p);
      }
    }
    return removed;
  }

  private DaemonInfo spawn(ServiceDefinition definition, ServicePaths paths, SpawnReason reason, String detail,
      long start) throws IOException {
    long now = System.nanoTime();
    Optional<Duration> wait = CrashLoopGuard.tryRecord(paths.spawns(), definition.crashLoopSpawns(),
        definition.crashLoopPeriod(), now);
    if (wait.isPresent()) {
      throw new CrashLoopException(definition.name(), definition.crashLoopSpawns(), definition.crashLoopPeriod(),
          wait.get(), paths.log(), LogFiles.tail(paths.log(), 0));
    }
    long logFrom = LogFiles.prepare(paths.log());
    SharedArchive.Plan sharing = SharedArchive.plan(definition, paths.directory());
    try {
      return spawnOnce(definition, paths, reason, detail, start, logFrom, sharing);
    } catch (DaemonStartException e) {
      if (!sharing.readsArchive() || e.failure() != DaemonStartException.Failure.EXITED) {
        throw e;
      }
      // A damaged class-data archive can stop a JVM before main: a JDK 17 hits SIGBUS mapping it and
      // its error handler exits with status 1, so the exit status cannot tell it from a daemon
      // failing for its own reasons (which then starts twice and loses its archive). Drop the archive and start once without (a fresh one is
      // written at the next normal exit). Same log, same spawn record.
      SharedArchive.delete(sharing.archive());
      return spawnOnce(definition, paths, reason, detail, start, logFrom,
          SharedArchive.plan(definition, paths.directory()));
    }
  }

  private DaemonInfo spawnOnce(ServiceDefinition definition, ServicePaths paths, SpawnReason reason, String detail,
      long start, long logFrom, SharedArchive.Plan sharing) throws IOException {
    String mode = definition.javaMainClass().isPresent() ? "java" : "command";
    try (ReadinessWait notify = ReadinessWait.bind(paths.notifySocket())) {
      long spawnStart = System.nanoTime();
      long deadline = spawnStart + definition.probeBudget().toNanos();
      Process child = Spawner.spawn(definition, paths, notify.path(), sharing);
      metrics.spawn(mode, System.nanoTime() - spawnStart);
      boolean ready = false;
      String readiness = "failed";
      try {
        ReadinessWait.Outcome outcome = notify.await(child, deadline);
        if (outcome instanceof ReadinessWait.Message m && m.message().kind() == Readiness.Kind.READY) {
          Readiness.Message msg = m.message();
          if (!Probe.connects(paths.endpoint().path().orElseThrow())) {
            throw failure(definition, paths, DaemonStartException.Failure.NOT_CONNECTABLE, spawnStart, -1,
                "READY from pid " + msg.pid() + " but nothing listens at " + paths.endpoint(), logFrom);
          }
          DaemonInfo info = readyInfo(definition, paths, msg, reason, detail, start);
          ready = true;
          readiness = "ready";
          return info;
        }
        if (outcome instanceof ReadinessWait.Message m) {
          throw failure(definition, paths, DaemonStartException.Failure.REPORTED_FAILURE, spawnStart,
              exitStatusIfExited(child), "it said: " + m.message().reason(), logFrom);
        }
        if (outcome instanceof ReadinessWait.Exited e) {
          throw failure(definition, paths, DaemonStartException.Failure.EXITED, spawnStart, e.status(), "", logFrom);
        }
        readiness = "timeout";
        throw failure(definition, paths, DaemonStartException.Failure.TIMED_OUT, spawnStart, -1,
            "no READY on the notify socket", logFrom);
      } finally {
        if (!ready) {
          killChild(child);
          Optional<LockfileRecord> left = readQuietly(paths);
          if (left.isPresent() && left.get().pid() == child.pid()) {
            Lockfiles.deleteIfOwnedBy(paths.lockfile(), left.get().instanceId());
          }
          removeLeftoverSockets(paths);
        }
        metrics.readiness(readiness, System.nanoTime() - spawnStart);
      }
    }
  }

  private static int exitStatusIfExited(Process child) {
    try {
      return child.waitFor(50, TimeUnit.MILLISECONDS) ? child.exitValue() : -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  private static void killChild(Process child) {
    ProcessTree.killTree(child.toHandle(), Spawner.detaches(), 2000);
    try {
      child.onExit().get(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      // The kill above was SIGKILL; a child that outlives it is reported by the caller's log tail.
    }
  }

  private static DaemonStartException failure(ServiceDefinition definition, ServicePaths paths,
      DaemonStartException.Failure failure, long spawnStart, int status, String detail, long logFrom) {
    Duration elapsed = Duration.ofNanos(System.nanoTime() - spawnStart);
    int signal = status > 128 && status < 128 + 65 ? status - 128 : -1;
    return new DaemonStartException(definition.name(), failure, elapsed, signal > 0 ? -1 : status, signal,
        detail, paths.log(), LogFiles.tail(paths.log(), logFrom));
  }

  private static Optional<LockfileRecord> readQuietly(ServicePaths paths) {
    try {
      return Lockfiles.read(paths.lockfile());
    } catch (LockfileException e) {
      return Optional.empty();
    }
  }

  private static DaemonInfo readyInfo(ServiceDefinition definition, ServicePaths paths, Readiness.Message msg,
      SpawnReason reason, String detail, long start) {
    Optional<LockfileRecord> r = readQuietly(paths).filter(rec -> rec.instanceId().equals(msg.instanceId()));
    if (r.isPresent()) {
      return info(definition, r.get(), Optional.of(reason), detail, start);
    }
    return new DaemonInfo(definition.name(), paths.endpoint(), paths.controlEndpoint(), msg.pid(), msg.instanceId(),
        Optional.empty(), Optional.of(reason), detail, Duration.ofNanos(System.nanoTime() - start));
  }

  private static DaemonInfo info(ServiceDefinition definition, LockfileRecord r, Optional<SpawnReason> reason,
      String detail, long start) {
    return new DaemonInfo(definition.name(), r.endpoint(), r.controlEndpoint(), r.pid(), r.instanceId(),
        r.daemonVersion().isEmpty() ? Optional.empty() : Optional.of(r.daemonVersion()), reason, detail,
        Duration.ofNanos(System.nanoTime() - start));
  }

  // ---------------------------------------------------------------------------------------------
  // Stop.

  private StopResult terminate(ServiceDefinition definition, ServicePaths paths, LockfileRecord r, Duration grace)
      throws IOException {
    long deadline = System.nanoTime() + grace.toNanos();
    Optional<ProcessHandle> handle = ProcessHandle.of(r.pid());
    if (handle.isEmpty() || !ProcessIdentity.isSameProcess(r.pid(), r.processStartTime())) {
      Lockfiles.deleteIfOwnedBy(paths.lockfile(), r.instanceId());
      removeLeftoverSockets(paths);
      return StopResult.CLEANED_STALE;
    }
    ProcessHandle h = handle.get();
    ProcStat st = ProcStat.read(r.pid());
    boolean leadsGroup = st != null && st.processGroup() == r.pid();
    StopResult result;
    boolean acknowledged = false;
    long askBudget = Math.min(definition.probeBudget().toNanos(), Math.max(1, deadline - System.nanoTime()));
    if (st != null && st.stopped()) {
      if (leadsGroup) {
        ProcessTree.signalGroup(r.pid(), "TERM");
        ProcessTree.signalGroup(r.pid(), "CONT");
      } else {
        h.destroy();
      }
    } else {
      try {
        ControlClient.shutdown(r.controlEndpoint(), Duration.ofNanos(askBudget));
        acknowledged = true;
      } catch (IOException e) {
        acknowledged = false;
      }
    }
    if (acknowledged && awaitExit(h, deadline - (deadline - System.nanoTime()) / 4)) {
      result = StopResult.SHUT_DOWN;
    } else {
      if (leadsGroup) {
        ProcessTree.signalGroup(r.pid(), "TERM");
      } else {
        h.destroy();
      }
      if (awaitExit(h, deadline)) {
        result = StopResult.TERMINATED;
      } else {
        ProcessTree.killTree(h, leadsGroup, 2000);
        result = StopResult.KILLED;
      }
    }
    Lockfiles.deleteIfOwnedBy(paths.lockfile(), r.instanceId());
    removeLeftoverSockets(paths);
    // A daemon ended on purpose did not crash: its spawns must not count toward the crash-loop limit,
    // or a launcher that restarts its daemon (stop, version change) would soon be refused.
    CrashLoopGuard.forget(paths.spawns());
    return result;
  }

  private static boolean awaitExit(ProcessHandle h, long deadline) {
    long left = deadline - System.nanoTime();
    if (!h.isAlive()) {
      return true;
    }
    if (left <= 0) {
      return false;
    }
    try {
      h.onExit().get(left, TimeUnit.NANOSECONDS);
      return true;
    } catch (TimeoutException | ExecutionException e) {
      return !h.isAlive();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return !h.isAlive();
    }
  }
}
