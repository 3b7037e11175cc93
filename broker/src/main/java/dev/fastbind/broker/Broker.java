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
import dev.fastbind.backend.internal.SocketHolders;
import dev.fastbind.broker.internal.CrashLoopGuard;
import dev.fastbind.broker.internal.DaemonVerification;
import dev.fastbind.broker.internal.RuntimeFiles;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Makes sure a service's daemon is running, reports on it, and stops it. What a launcher embeds.
 *
 * <p><b>{@link #ensureRunning}</b> first takes the hot path, without any lock: read the lockfile,
 * check that it names this service and the service's own two endpoints, that its pid is alive with
 * the recorded start time and boot id, and that the endpoint accepts a connection. That is what every
 * launcher invocation pays, so it is kept to twelve system calls
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
 * {@link DaemonStartException} with the exit status and the daemon's log tail. The budget covers the
 * whole spawn, the class-data-sharing retry included; the call returns at most
 * {@link #SPAWN_KILL_MARGIN} after it (measured: 505 to 512 ms for a 500 ms budget and a hung daemon
 * with a grandchild, in {@code BudgetTest}), plus the time spent waiting for the spawn lock.
 *
 * <p><b>Trust.</b> A lockfile is a claim; what the broker acts on is what the kernel confirms. The
 * hot path trusts a record only as far as above (its own endpoints, a live pid with the recorded start
 * time, an accepting endpoint), which is enough to hand out an endpoint the definition owns. Before
 * anything more (signalling, {@code SHUTDOWN}, reporting a daemon as running) the process must pass
 * {@code DaemonVerification}: same boot, start time, real and effective uid, and it holds a listening
 * socket at one of the service's endpoints (from {@code /proc/net/unix} and {@code /proc/<pid>/fd});
 * pid 1, this process and this process's group are never signalled. {@code HELLO} counts only from
 * the recorded pid as this user (the kernel's peer credentials), naming the recorded service, pid and
 * instance. What the broker cannot understand (an unreadable, future-format or foreign lockfile
 * beside an endpoint that still accepts, an endpoint held by a process without a record, a link,
 * directory or file where a socket or lockfile belongs) is reported as
 * {@link UntrustedStateException} or {@link ServiceStatus.Untrusted} and never deleted; such a refusal
 * spawns nothing and does not count toward the crash-loop limit.
 *
 * <p><b>{@link #status}</b> reads without changing anything (it does not even create the runtime
 * directory); for a live daemon it asks {@code HELLO} on the control endpoint. <b>{@link #stop}</b> asks {@code SHUTDOWN}, then sends
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
   * @throws UntrustedStateException if the runtime files and the kernel disagree in a way the broker
   *     will not guess about (see its {@link UntrustedStateException.Kind kinds}); nothing was changed
   * @throws java.nio.file.FileSystemException if the runtime directory is not owner-only
   * @throws IOException for other I/O failures in the runtime directory
   */
  public DaemonInfo ensureRunning(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    long start = System.nanoTime();
    String outcome = "failed";
    try {
      ServicePaths paths = prepare(definition, true);
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
   * Reports the state of {@code definition}'s daemon without changing anything: it creates no file or
   * directory, deletes nothing and signals nothing. A live daemon is asked {@code HELLO}, which waits
   * at most the probe budget, and its answer counts only when the kernel confirms that the recorded
   * pid, running as this user, is on the other side of the control connection and the answer names
   * the recorded service, pid and instance; otherwise the status is {@link ServiceStatus.Untrusted}.
   *
   * @throws java.nio.file.FileSystemException if the runtime directory is not owner-only
   */
  public ServiceStatus status(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    long start = System.nanoTime();
    ServicePaths paths = prepare(definition, false);
    if (paths == null) {
      return new ServiceStatus.Absent(definition.name());
    }
    Assessment a = assess(definition, paths);
    if (a instanceof Untrusted u) {
      return untrusted(u.error());
    }
    if (a instanceof Absent || a instanceof Stale) {
      Optional<UntrustedStateException> held = heldEndpoint(definition, paths, "there is "
          + (a instanceof Absent ? "no lockfile" : "no live daemon recorded"));
      if (held.isPresent()) {
        return untrusted(held.get());
      }
      if (a instanceof Stale s) {
        return new ServiceStatus.Stale(definition.name(), s.reason(), s.detail());
      }
      return new ServiceStatus.Absent(definition.name());
    }
    LockfileRecord r = ((Healthy) a).record();
    HelloReply hello;
    try {
      hello = verifiedHello(definition, paths, r, definition.probeBudget());
    } catch (UntrustedStateException e) {
      return untrusted(e);
    } catch (ControlProtocolException e) {
      return untrusted(impostor(definition, paths, r.pid(), "it answered outside the control protocol: "
          + e.getMessage()));
    } catch (IOException e) {
      // timed out, refused (a full backlog) or hung up (stopping, or its connection cap reached)
      return new ServiceStatus.Unresponsive(definition.name(), r.pid(), definition.probeBudget(),
          describeUnresponsive(r.pid(), e));
    }
    DaemonInfo info = info(definition, r, Optional.empty(), "", start);
    return new ServiceStatus.Running(info, hello.state() == DaemonState.READY, hello.progressPercent(),
        hello.phase());
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
   * <p>Only a process the kernel confirms as this service's daemon is signalled or asked to shut
   * down (see the class doc); a record that fails the check is refused with
   * {@link UntrustedStateException} and nothing is signalled or deleted.
   *
   * @throws SpawnLockTimeoutException if another launcher held the spawn lock beyond the definition's
   *     {@linkplain ServiceDefinition#spawnLockPatience() patience}; nothing was changed
   * @throws UntrustedStateException if the record names a process that is not provably the daemon, the
   *     control endpoint answers for another process, the lockfile cannot be read while an endpoint
   *     answers, or an endpoint is held by a process without a record
   */
  public StopResult stop(ServiceDefinition definition, Duration grace) throws IOException {
    Objects.requireNonNull(definition, "definition");
    Objects.requireNonNull(grace, "grace");
    if (grace.isNegative()) {
      throw new IllegalArgumentException("grace must not be negative, got " + grace);
    }
    ServicePaths paths = prepare(definition, true);
    try (SpawnLock lock = SpawnLock.acquire(paths.spawnLock(), definition.name(), definition.spawnLockPatience())) {
      RuntimeFiles.removeStaleTemps(paths);
      Assessment a = assess(definition, paths);
      if (a instanceof Untrusted u) {
        throw u.error();
      }
      if (a instanceof Absent) {
        return clearEndpoints(definition, paths, "there is no lockfile")
            ? StopResult.CLEANED_STALE : StopResult.NOT_RUNNING;
      }
      if (a instanceof Stale s) {
        if (s.processAlive() && s.record().isPresent()
            && DaemonVerification.verify(paths, s.record().get()) instanceof DaemonVerification.Refused refused) {
          throw unverified(definition, paths, s.record().get(), refused);
        }
        clearStale(definition, paths, s);
        return StopResult.CLEANED_STALE;
      }
      return terminate(definition, paths, ((Healthy) a).record(), grace);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Assessment: what the lockfile and the process table say, without changing anything.

  private sealed interface Assessment {}

  private record Absent() implements Assessment {}

  /**
   * A record the broker understands well enough to clear: its process is gone, or it is unreadable
   * or foreign while none of the service's endpoints answers. {@code record} is present only when it
   * names this service's own endpoints; {@code processAlive} says that its process exists.
   */
  private record Stale(SpawnReason reason, String detail, Optional<LockfileRecord> record, boolean processAlive)
      implements Assessment {}

  /** State the broker must not act on; {@code error} says what and is thrown by the acting calls. */
  private record Untrusted(UntrustedStateException error) implements Assessment {}

  /** A live daemon; {@code stat} is the one procfs reading the identity check made (null without procfs). */
  private record Healthy(LockfileRecord record, ProcessIdentity.Stat stat) implements Assessment {}

  /**
   * The directory is checked on every call; the paths in it are remembered for the last service asked
   * about. With {@code create} false a missing directory yields null and nothing is created.
   */
  private ServicePaths prepare(ServiceDefinition definition, boolean create) throws IOException {
    Path dir = runtimeDirectory(definition);
    if (!create && !Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return null;
    }
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

  /**
   * Reads the lockfile and checks the process it names. The hot path: what reaches {@link Healthy}
   * names this service and its own two endpoints, a live process with the recorded start time in
   * this boot, and an endpoint that accepts a connection. Who holds the endpoint, uid and
   * {@code HELLO} identity are left to the calls that act on the daemon ({@link #verifiedHello},
   * {@link DaemonVerification}).
   */
  private Assessment assess(ServiceDefinition definition, ServicePaths paths) {
    Optional<LockfileRecord> read;
    try {
      read = Lockfiles.read(paths.lockfile());
    } catch (LockfileException e) {
      return unreadable(definition, paths, e);
    }
    if (read.isEmpty()) {
      return new Absent();
    }
    LockfileRecord r = read.get();
    if (!r.service().equals(definition.name()) || !r.endpoint().equals(paths.endpoint())
        || !r.controlEndpoint().equals(paths.controlEndpoint())) {
      String what = !r.service().equals(definition.name())
          ? "names service '" + r.service() + "'"
          : "names endpoints " + r.endpoint() + " and " + r.controlEndpoint() + ", not the service's own "
              + paths.endpoint() + " and " + paths.controlEndpoint();
      String detail = "FOREIGN: lockfile " + paths.lockfile() + " " + what;
      if (answers(paths)) {
        return new Untrusted(new UntrustedStateException(definition.name(), UntrustedStateException.Kind.FOREIGN_RECORD,
            paths.lockfile(), -1, "daemon '" + definition.name() + "': lockfile " + paths.lockfile() + " " + what
                + ", yet the service's endpoint answers; nothing was changed: stop whatever serves "
                + paths.endpoint() + " (" + holdersText(paths) + ") or remove the lockfile by hand"));
      }
      return new Stale(SpawnReason.CORRUPT_LOCKFILE, detail, Optional.empty(), false);
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
    if (r.pid() <= 1 || r.pid() == ProcessIdentity.currentPid()) {
      return new Stale(SpawnReason.CORRUPT_LOCKFILE, "FOREIGN: lockfile " + paths.lockfile() + " names pid "
          + r.pid() + (r.pid() <= 1 ? ", which is never a daemon" : ", this launcher itself"), Optional.of(r), true);
    }
    long t = System.nanoTime();
    boolean connects = Probe.connects(paths.endpoint().path().orElseThrow());
    metrics.probe(connects, System.nanoTime() - t);
    if (!connects) {
      return new Stale(SpawnReason.UNCONNECTABLE_SOCKET, "pid " + r.pid() + " is alive but " + r.endpoint()
          + " refuses connections", Optional.of(r), true);
    }
    return new Healthy(r, stat);
  }

  /**
   * A lockfile that cannot be read as a record: what is not a regular file is never removed, and
   * what is one is cleared only when none of the service's endpoints answers.
   */
  private static Assessment unreadable(ServiceDefinition definition, ServicePaths paths, LockfileException e) {
    if (e.reason() == LockfileException.Reason.SYMLINK || e.reason() == LockfileException.Reason.NOT_A_REGULAR_FILE) {
      return new Untrusted(new UntrustedStateException(definition.name(), UntrustedStateException.Kind.NOT_A_RUNTIME_FILE,
          paths.lockfile(), -1, "daemon '" + definition.name() + "': " + e.getMessage()
              + " (fastbind never removes it itself)"));
    }
    if (answers(paths)) {
      String versions = e.reason() == LockfileException.Reason.FUTURE_VERSION
          ? " This launcher reads lockfile format " + Lockfiles.FORMAT_VERSION
              + " and older: upgrade the launcher to one that reads the daemon's format, or stop the daemon"
              + " with the launcher that started it."
          : " Stop whatever serves " + paths.endpoint() + " (" + holdersText(paths)
              + "), then run again; the broker will then replace the file.";
      return new Untrusted(new UntrustedStateException(definition.name(),
          UntrustedStateException.Kind.UNREADABLE_LOCKFILE, paths.lockfile(), -1, "daemon '" + definition.name()
              + "': " + e.reason() + ": " + e.getMessage() + "; yet the service's endpoint answers, so the file was"
              + " left in place and nothing was changed." + versions));
    }
    return new Stale(SpawnReason.CORRUPT_LOCKFILE, e.reason() + ": " + e.getMessage(), Optional.empty(), false);
  }

  /** Whether a socket (never a link) at either of the service's endpoints accepts a connection. */
  private static boolean answers(ServicePaths paths) {
    return socketAnswers(paths.endpoint()) || socketAnswers(paths.controlEndpoint());
  }

  private static boolean socketAnswers(Endpoint e) {
    Path p = e.path().orElseThrow();
    try {
      return RuntimeFiles.kindOf(p) == RuntimeFiles.Kind.SOCKET && Probe.connects(p);
    } catch (RuntimeFileException unexaminable) {
      return false; // reported by the clean-up that needs the path
    }
  }

  private static String holdersText(ServicePaths paths) {
    List<SocketHolders.Holder> found = new ArrayList<>(SocketHolders.holders(paths.endpoint()));
    for (SocketHolders.Holder h : SocketHolders.holders(paths.controlEndpoint())) {
      if (!found.contains(h)) {
        found.add(h);
      }
    }
    if (found.isEmpty()) {
      return "its holder could not be found in /proc";
    }
    StringBuilder b = new StringBuilder("held by ");
    for (int i = 0; i < found.size(); i++) {
      b.append(i == 0 ? "" : ", ").append(found.get(i).describe());
    }
    return b.toString();
  }

  /**
   * When no live daemon is recorded but an endpoint of the service still accepts, the error that names
   * the process holding it: a child that inherited the listener from a killed daemon, or another
   * program bound at the path. Nothing can be spawned beside it, and nothing is removed.
   */
  private static Optional<UntrustedStateException> heldEndpoint(ServiceDefinition definition, ServicePaths paths,
      String situation) {
    for (Endpoint e : new Endpoint[] {paths.endpoint(), paths.controlEndpoint()}) {
      if (socketAnswers(e)) {
        List<SocketHolders.Holder> holders = SocketHolders.holders(e);
        long pid = holders.isEmpty() ? -1 : holders.get(0).pid();
        String who = holders.isEmpty() ? "a process this user cannot see in /proc" : holders.get(0).describe();
        return Optional.of(new UntrustedStateException(definition.name(), UntrustedStateException.Kind.ENDPOINT_HELD,
            e.path().orElseThrow(), pid, "daemon '" + definition.name() + "': " + situation + ", but " + e
                + " still accepts connections, held by " + who + "; no daemon can bind there beside it. "
                + (pid > 0 ? "Stop that process (kill " + pid + ") if it is a leftover of an old daemon, then run again."
                    : "Find and stop the process listening there, then run again.")));
      }
    }
    return Optional.empty();
  }

  /**
   * Makes the service's endpoint paths free for a new daemon: removes socket files nobody listens on,
   * and refuses (without removing anything) a socket that still accepts or a link, directory, FIFO or
   * regular file in a socket's place. Returns whether a socket file was removed.
   */
  private static boolean clearEndpoints(ServiceDefinition definition, ServicePaths paths, String situation)
      throws IOException {
    Optional<UntrustedStateException> held = heldEndpoint(definition, paths, situation);
    if (held.isPresent()) {
      throw held.get();
    }
    boolean removed = false;
    for (Endpoint e : new Endpoint[] {paths.endpoint(), paths.controlEndpoint()}) {
      Path p = e.path().orElseThrow();
      RuntimeFiles.Kind kind = RuntimeFiles.kindOf(p);
      if (kind != RuntimeFiles.Kind.ABSENT && kind != RuntimeFiles.Kind.SOCKET) {
        throw new UntrustedStateException(definition.name(), UntrustedStateException.Kind.NOT_A_RUNTIME_FILE, p, -1,
            "daemon '" + definition.name() + "': " + RuntimeFiles.refusal(p, kind, RuntimeFiles.Kind.SOCKET));
      }
      removed |= RuntimeFiles.clearDeadSocket(p) == RuntimeFiles.SocketState.REMOVED;
    }
    return removed;
  }

  /** {@link #clearEndpoints} after a failed spawn, which must not hide the spawn's own error. */
  private static void clearEndpointsQuietly(ServiceDefinition definition, ServicePaths paths, Throwable cause) {
    try {
      clearEndpoints(definition, paths, "the daemon did not start");
    } catch (IOException e) {
      if (cause != null) {
        cause.addSuppressed(e);
      }
    }
  }

  private static ServiceStatus.Untrusted untrusted(UntrustedStateException e) {
    return new ServiceStatus.Untrusted(e.service(), e.kind(), e.getMessage());
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
      RuntimeFiles.removeStaleTemps(paths);
      Assessment a = assess(definition, paths);
      SpawnReason reason;
      String detail;
      if (a instanceof Untrusted u) {
        throw u.error();
      } else if (a instanceof Healthy h) {
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
        clearStale(definition, paths, s);
      } else {
        reason = SpawnReason.ABSENT;
        detail = "no lockfile at " + paths.lockfile();
        clearEndpoints(definition, paths, "there is no lockfile");
      }
      return spawn(definition, paths, reason, detail, start);
    }
  }

  /**
   * Clears a stale record: a live process it names is killed only when the kernel confirms it is this
   * service's daemon (an unverified one is left alone, and only the claim about it is dropped); the
   * lockfile goes only while it is a regular file; socket files go only while nobody listens.
   *
   * @throws UntrustedStateException if an endpoint still accepts connections afterwards (named holder)
   *     or something other than a socket stands at a socket path
   */
  private void clearStale(ServiceDefinition definition, ServicePaths paths, Stale s) throws IOException {
    if (s.processAlive() && s.record().isPresent()
        && DaemonVerification.verify(paths, s.record().get()) instanceof DaemonVerification.Verified v) {
      ProcessHandle.of(v.pid()).ifPresent(h -> ProcessTree.killTree(h, v.leadsOwnGroup(),
          System.nanoTime() + KILL_WAIT.toNanos()));
    }
    if (s.record().isPresent()) {
      Lockfiles.deleteIfOwnedBy(paths.lockfile(), s.record().get().instanceId());
    } else {
      RuntimeFiles.deleteIfRegular(paths.lockfile()); // what is not a regular file was reported in assess()
    }
    clearEndpoints(definition, paths, "the recorded daemon is gone (" + s.detail() + ")");
  }

  /** How long a kill waits for the process tree to be gone, after {@code SIGKILL}. */
  private static final Duration KILL_WAIT = Duration.ofSeconds(2);

  /**
   * How far past its probe budget a failed spawn may run: the {@code SIGKILL} of the child's group and
   * the wait for the child (the broker's own child, so reaped at once) to be gone. Grandchildren
   * receive the same {@code SIGKILL} but are not waited for past this margin.
   */
  public static final Duration SPAWN_KILL_MARGIN = Duration.ofMillis(250);

  /**
   * Spawns the daemon, within one deadline: the definition's probe budget from the moment the spawn
   * starts, for the first attempt and the class-data-sharing retry together, plus
   * {@link #SPAWN_KILL_MARGIN} to kill a child that missed it.
   */
  private DaemonInfo spawn(ServiceDefinition definition, ServicePaths paths, SpawnReason reason, String detail,
      long start) throws IOException {
    // The log first: a hostile file there is reported without using up a crash-loop slot.
    long logFrom = LogFiles.prepare(paths.log());
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

  private DaemonInfo spawnOnce(ServiceDefinition definition, ServicePaths paths, SpawnReason reason, String detail,
      long start, long logFrom, SharedArchive.Plan sharing, long deadline) throws IOException {
    String mode = definition.javaMainClass().isPresent() ? "java" : "command";
    try (ReadinessWait notify = ReadinessWait.bind(paths.notifySocket())) {
      long spawnStart = System.nanoTime();
      Process child = Spawner.spawn(definition, paths, notify.path(), sharing);
      metrics.spawn(mode, System.nanoTime() - spawnStart);
      boolean ready = false;
      String readiness = "failed";
      DaemonStartException failed = null;
      try {
        ReadinessWait.Outcome outcome = notify.await(child, deadline);
        if (outcome instanceof ReadinessWait.Message m && m.message().kind() == Readiness.Kind.READY) {
          Readiness.Message msg = m.message();
          if (!Probe.connects(paths.endpoint().path().orElseThrow())) {
            throw failed = failure(definition, paths, DaemonStartException.Failure.NOT_CONNECTABLE, spawnStart, -1,
                "READY from pid " + msg.pid() + " but nothing listens at " + paths.endpoint(), logFrom);
          }
          DaemonInfo info = readyInfo(definition, paths, msg, reason, detail, start);
          ready = true;
          readiness = "ready";
          return info;
        }
        if (outcome instanceof ReadinessWait.Message m) {
          throw failed = failure(definition, paths, DaemonStartException.Failure.REPORTED_FAILURE, spawnStart,
              exitStatusIfExited(child), "it said: " + m.message().reason(), logFrom);
        }
        if (outcome instanceof ReadinessWait.Exited e) {
          throw failed = failure(definition, paths, DaemonStartException.Failure.EXITED, spawnStart, e.status(), "",
              logFrom);
        }
        readiness = "timeout";
        throw failed = failure(definition, paths, DaemonStartException.Failure.TIMED_OUT, spawnStart, -1,
            "no READY on the notify socket", logFrom);
      } finally {
        if (!ready) {
          ProcessTree.killTree(child.toHandle(), Spawner.detaches(),
              Math.max(deadline, System.nanoTime()) + SPAWN_KILL_MARGIN.toNanos());
          Optional<LockfileRecord> left = readQuietly(paths);
          if (left.isPresent() && left.get().pid() == child.pid()) {
            Lockfiles.deleteIfOwnedBy(paths.lockfile(), left.get().instanceId());
          }
          clearEndpointsQuietly(definition, paths, failed);
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
  // Trust: who is on the other side.

  /**
   * Asks {@code HELLO} of the recorded daemon and accepts the answer only from the recorded pid,
   * running as this user (the kernel's peer credentials), naming the recorded service, pid and
   * instance.
   *
   * @throws UntrustedStateException ({@link UntrustedStateException.Kind#IMPOSTOR}) on any mismatch
   */
  private static HelloReply verifiedHello(ServiceDefinition definition, ServicePaths paths, LockfileRecord r,
      Duration timeout) throws IOException {
    Endpoint control = paths.controlEndpoint();
    HelloReply hello;
    try {
      hello = ControlClient.hello(control, timeout, ControlClient.expecting(control, r.pid()));
    } catch (ControlClient.PeerMismatchException e) {
      throw impostor(definition, paths, e.peer().pid(), e.getMessage());
    }
    if (!hello.service().equals(definition.name()) || hello.pid() != r.pid()
        || !hello.instanceId().equals(r.instanceId())) {
      throw impostor(definition, paths, r.pid(), "its HELLO names service '" + hello.service() + "', pid "
          + hello.pid() + ", instance " + hello.instanceId() + "; the lockfile names '" + r.service() + "', pid "
          + r.pid() + ", instance " + r.instanceId());
    }
    return hello;
  }

  private static UntrustedStateException impostor(ServiceDefinition definition, ServicePaths paths, long pid,
      String what) {
    return new UntrustedStateException(definition.name(), UntrustedStateException.Kind.IMPOSTOR,
        paths.controlEndpoint().path().orElseThrow(), pid, "daemon '" + definition.name() + "': the control endpoint "
            + paths.controlEndpoint() + " does not answer as the daemon recorded in " + paths.lockfile() + ": " + what
            + "; nothing was signalled or shut down. Find out who serves it (" + holdersText(paths)
            + ") and stop that process yourself, or remove the lockfile if it is wrong");
  }

  // ---------------------------------------------------------------------------------------------
  // Stop.

  /**
   * Ends the recorded daemon once the kernel has confirmed it ({@link DaemonVerification}): a live
   * one is asked {@code SHUTDOWN} after a {@linkplain #verifiedHello verified HELLO}, then signalled.
   */
  private StopResult terminate(ServiceDefinition definition, ServicePaths paths, LockfileRecord r, Duration grace)
      throws IOException {
    long deadline = System.nanoTime() + grace.toNanos();
    DaemonVerification.Verdict verdict = DaemonVerification.verify(paths, r);
    if (verdict instanceof DaemonVerification.Refused refused) {
      throw unverified(definition, paths, r, refused);
    }
    Optional<ProcessHandle> handle = ProcessHandle.of(r.pid());
    if (verdict instanceof DaemonVerification.Gone || handle.isEmpty()) {
      Lockfiles.deleteIfOwnedBy(paths.lockfile(), r.instanceId());
      clearEndpoints(definition, paths, "the recorded daemon is gone");
      return StopResult.CLEANED_STALE;
    }
    DaemonVerification.Verified v = (DaemonVerification.Verified) verdict;
    ProcessHandle h = handle.get();
    StopResult result;
    boolean acknowledged = false;
    if (v.stopped()) {
      signal(v, "TERM", h);
      if (v.leadsOwnGroup()) {
        ProcessTree.signalGroup(r.pid(), "CONT");
      }
    } else {
      long askBudget = Math.min(definition.probeBudget().toNanos(), Math.max(1, deadline - System.nanoTime()));
      try {
        verifiedHello(definition, paths, r, Duration.ofNanos(askBudget));
        ControlClient.shutdown(paths.controlEndpoint(), Duration.ofNanos(askBudget),
            ControlClient.expecting(paths.controlEndpoint(), r.pid()));
        acknowledged = true;
      } catch (UntrustedStateException e) {
        throw e;
      } catch (ControlClient.PeerMismatchException e) {
        throw impostor(definition, paths, e.peer().pid(), e.getMessage());
      } catch (IOException e) {
        acknowledged = false; // wedged, or not speaking the protocol: the verified process gets signals
      }
    }
    if (acknowledged && awaitExit(h, deadline - (deadline - System.nanoTime()) / 4)) {
      result = StopResult.SHUT_DOWN;
    } else {
      signal(v, "TERM", h);
      if (awaitExit(h, deadline)) {
        result = StopResult.TERMINATED;
      } else {
        ProcessTree.killTree(h, v.leadsOwnGroup(), System.nanoTime() + KILL_WAIT.toNanos());
        result = StopResult.KILLED;
      }
    }
    Lockfiles.deleteIfOwnedBy(paths.lockfile(), r.instanceId());
    clearEndpoints(definition, paths, "the daemon was stopped");
    // A daemon ended on purpose did not crash: its spawns must not count toward the crash-loop limit,
    // or a launcher that restarts its daemon (stop, version change) would soon be refused.
    CrashLoopGuard.forget(paths.spawns());
    return result;
  }

  private static UntrustedStateException unverified(ServiceDefinition definition, ServicePaths paths,
      LockfileRecord r, DaemonVerification.Refused refused) {
    return new UntrustedStateException(definition.name(), UntrustedStateException.Kind.UNVERIFIED_PROCESS,
        paths.lockfile(), r.pid(), "daemon '" + definition.name() + "': refusing to signal pid " + r.pid()
            + " named by " + paths.lockfile() + ": " + refused.why() + ". Nothing was signalled or removed; "
            + (answers(paths) ? "the service's endpoint is " + holdersText(paths) + ". " : "")
            + "if pid " + r.pid() + " is not the daemon, remove the lockfile");
  }

  private static void signal(DaemonVerification.Verified v, String signal, ProcessHandle h) {
    if (v.leadsOwnGroup()) {
      ProcessTree.signalGroup(v.pid(), signal);
    } else if ("KILL".equals(signal)) {
      h.destroyForcibly();
    } else {
      h.destroy();
    }
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
