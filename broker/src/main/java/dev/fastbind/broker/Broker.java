package dev.fastbind.broker;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.Bootstrap;
import dev.fastbind.backend.internal.wire.ControlProtocolException;
import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.backend.internal.UnsafeRuntimeDirectoryException;
import dev.fastbind.broker.internal.Assessment;
import dev.fastbind.broker.internal.Assessor;
import dev.fastbind.broker.internal.ColdStart;
import dev.fastbind.broker.internal.Deaths;
import dev.fastbind.broker.internal.Cleaning;
import dev.fastbind.broker.internal.DaemonVerification;
import dev.fastbind.broker.internal.Decision;
import dev.fastbind.broker.internal.Metrics;
import dev.fastbind.broker.internal.MicrometerMetrics;
import dev.fastbind.broker.internal.RuntimeFiles;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.broker.internal.Handoffs;
import dev.fastbind.broker.internal.InProcessDaemons;
import dev.fastbind.broker.internal.SideBySide;
import dev.fastbind.broker.internal.SpawnLock;
import dev.fastbind.broker.internal.Stopping;
import dev.fastbind.broker.internal.Trust;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

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
 * with a grandchild, in {@code BudgetTest}), plus the time spent waiting for the spawn lock. Replacing
 * a running daemon (version policy, an unresponsive one) first stops it within one more probe budget
 * and, when it ignores {@code SHUTDOWN} and {@code SIGTERM}, the 2 s wait after {@code SIGKILL}.
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
 * <p><b>In-process definitions</b> ({@link ServiceDefinition.Builder#inProcess}) take none of the paths
 * above: {@code ensureRunning} starts the backend once per broker, inside this JVM, on daemon threads
 * (so the JVM's exit is never held up by it), bound in a private owner-only temporary directory, and
 * returns this JVM's pid; {@code status}, {@code stop}, {@code replace} and {@code lastDeath} act on
 * that backend. It writes nothing into the runtime directory, so {@code list} and {@code clean} never
 * see it and no other launcher shares it. A backend whose {@code serve} throws is gone: {@code status}
 * reports it {@link ServiceStatus.Absent} with a {@link DeathRecord} of {@link DeathRecord.Cause#SERVE_THREW}
 * whose log tail is the stack trace, and the next {@code ensureRunning} starts a new one.
 *
 * <p>Thread-safe; one instance can serve a whole application. Calls that spawn or stop block for at
 * most the probe budget or grace period plus process clean-up.
 */
public final class Broker implements DaemonBroker {

  /**
   * How far past its probe budget a failed spawn may run: the {@code SIGKILL} of the child's group and
   * the wait for the child (the broker's own child, so reaped at once) to be gone. Grandchildren
   * receive the same {@code SIGKILL} but are not waited for past this margin.
   */
  public static final Duration SPAWN_KILL_MARGIN = ColdStart.KILL_MARGIN;

  private final Metrics metrics;
  private final dev.fastbind.broker.internal.KeepAlive keepAlive = new dev.fastbind.broker.internal.KeepAlive();
  private final Assessor assessor;
  private final ColdStart coldStart;
  private volatile PathsOf lastPaths;
  private final InProcessDaemons inProcess = new InProcessDaemons();

  private Broker(Metrics metrics) {
    this.metrics = metrics;
    this.assessor = new Assessor(metrics);
    this.coldStart = new ColdStart(metrics);
  }

  /**
   * A broker that records no metrics.
   *
   * @return a new broker that never loads Micrometer; thread-safe, so one can serve a whole application
   */
  public static Broker create() {
    return new Broker(Metrics.NONE);
  }

  /**
   * A broker that records its timings in {@code registry}.
   *
   * @param registry where the {@code fastbind.broker.*} timers are registered; not null
   * @return a new thread-safe broker
   */
  public static Broker create(MeterRegistry registry) {
    return new Broker(new MicrometerMetrics(Objects.requireNonNull(registry, "registry")));
  }

  /**
   * The runtime directory {@code definition} uses: its own, or the per-user default.
   *
   * @param definition the service whose directory is wanted
   * @return {@link ServiceDefinition#runtimeDirectory()} when it was given; else
   *     {@code $XDG_RUNTIME_DIR/fastbind} when that variable holds an absolute path, else
   *     {@code <java.io.tmpdir>/fastbind-<user.name>}. Nothing is created or checked
   */
  public static Path runtimeDirectory(ServiceDefinition definition) {
    Optional<Path> given = definition.runtimeDirectory();
    return given.isPresent() ? given.get() : RuntimeDirectory.defaultFor(Env.APP);
  }

  /**
   * Returns the running daemon of {@code definition}, spawning it when there is none.
   *
   * @param definition the service to make sure of
   * @return the daemon, whose endpoint accepted a connection during this call; one spawned just now may
   *     still be warming up (connections wait in its backlog). {@link DaemonInfo#spawned()} tells
   *     whether this call started it, and {@link DaemonInfo#spawnReason()} why
   * @throws DaemonStartException if a spawned daemon exited, reported a failure or was not ready in time
   * @throws CrashLoopException if the service was spawned too often recently; nothing was spawned
   * @throws DaemonUnresponsiveException if the recorded daemon is stopped or wedged and the
   *     definition says {@link UnresponsivePolicy#REPORT}
   * @throws VersionMismatchException if the running version differs and the definition says
   *     {@link VersionPolicy#FAIL}; with the default {@link VersionPolicy#RESTART} a newer running
   *     daemon is returned, not replaced (see {@link VersionPolicy})
   * @throws SpawnLockTimeoutException if another launcher held the spawn lock beyond the definition's
   *     {@linkplain ServiceDefinition#spawnLockPatience() patience}; nothing was changed
   * @throws UntrustedStateException if the runtime files and the kernel disagree in a way the broker
   *     will not guess about (see its {@link UntrustedStateException.Kind kinds}); nothing was changed
   * @throws RuntimeFileException if the runtime directory is not a directory, not this user's or open
   *     to others, or another runtime file (log, crash-loop count, notify socket) is not what belongs
   *     there or cannot be written
   * @throws IOException for other I/O failures in the runtime directory
   */
  @Override
  public DaemonInfo ensureRunning(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    DaemonInfo info = ensure(definition);
    if (definition.keepAlive().isPresent() && definition.inProcessBackend().isEmpty()) {
      keepAlive.watch(info.endpoint().toString(), info.pid(), (key, pid) -> keptAliveEnded(definition, info));
    }
    return info;
  }

  /**
   * A kept-alive daemon's process ended: unless it ended on purpose (a stop, a replacement, its idle
   * timeout, its own request, {@code SIGTERM}), start it again. The crash-loop limit, which
   * {@code keepAlive} set from its supervision, is the budget shared with every other launcher; past
   * it the restart is refused and reported once.
   */
  private void keptAliveEnded(ServiceDefinition definition, DaemonInfo ended) {
    String name = definition.name();
    try {
      Optional<DeathRecord> death = lastDeath(definition).filter(d -> d.instanceId().equals(ended.instanceId()));
      metrics.worker(name, "died", death.map(d -> d.cause().name().toLowerCase(java.util.Locale.ROOT)).orElse("unknown"));
      if (death.isPresent() && endedOnPurpose(death.get().cause())) {
        if (death.get().cause() == DeathRecord.Cause.HANDED_OVER) {
          status(definition); // a successor serves; the next ensureRunning watches it
        }
        return;
      }
      DaemonInfo next = ensureRunning(definition);
      if (next.spawned()) {
        metrics.worker(name, "restarted", "");
        System.err.println("fastbind: kept-alive daemon '" + name + "' (pid " + ended.pid() + ") ended"
            + death.map(d -> ": " + d.summary()).orElse("") + "; restarted as pid " + next.pid());
      }
    } catch (CrashLoopException e) {
      metrics.worker(name, "gave-up", "");
      System.err.println("fastbind: kept-alive daemon '" + name + "' is not restarted: " + e.getMessage());
    } catch (IOException | RuntimeException e) {
      System.err.println("fastbind: kept-alive daemon '" + name + "' could not be restarted: " + e.getMessage());
    }
  }

  private static boolean endedOnPurpose(DeathRecord.Cause cause) {
    switch (cause) {
      case SHUTDOWN_REQUEST:
      case IDLE_TIMEOUT:
      case REQUESTED:
      case HANDED_OVER:
      case SIGTERM:
      case OWNER_GONE:
        return true;
      default:
        return false;
    }
  }

  private DaemonInfo ensure(ServiceDefinition definition) throws IOException {
    long start = System.nanoTime();
    if (definition.inProcessBackend().isPresent()) {
      return inProcess.ensureRunning(definition, start);
    }
    String outcome = "failed";
    try {
      ServiceLayout paths = prepare(definition, true);
      Optional<Handoffs.Start> starting = Handoffs.inFlight(paths);
      if (starting.isPresent()) {
        // Bound by this JVM a moment ago and still being handed to the daemon: the same answer.
        outcome = "reused";
        return starting.get().bound().withElapsed(Duration.ofNanos(System.nanoTime() - start));
      }
      Assessment hot = assessor.assess(definition, paths);
      Decision.Replace replace = null;
      if (hot instanceof Assessment.Healthy h) {
        Decision d = Decision.about(definition, h, start);
        if (d instanceof Decision.Reuse reuse) {
          outcome = "reused";
          return reuse.daemon();
        }
        if (d instanceof Decision.SideBySide beside) {
          DaemonInfo info = besides(definition, paths, beside, start);
          outcome = info.spawned() ? "spawned" : "reused";
          return info;
        }
        replace = (Decision.Replace) d;
      } else {
        // The first daemon's files are free; one with this key may still run beside where it was.
        Optional<DaemonInfo> keyed = SideBySide.reusable(definition, paths, assessor, start);
        if (keyed.isPresent()) {
          outcome = "reused";
          return keyed.get();
        }
      }
      Decision.SideBySide[] beside = new Decision.SideBySide[1];
      DaemonInfo info = coldPath(definition, paths, start, replace, null, beside);
      if (info == null) {
        info = besides(definition, paths, beside[0], start);
      }
      outcome = info.spawned() ? "spawned" : "reused";
      return info;
    } finally {
      metrics.ensure(outcome, System.nanoTime() - start);
    }
  }

  /**
   * Under the spawn lock: look again (another launcher may have acted), then reuse, or clear the way
   * (replace a verified daemon, clear a stale record, free the endpoint paths) and spawn.
   * {@code hotReplace} is the hot path's decision to replace, reused when it was about the same
   * instance; null when the hot path found no healthy daemon.
   */
  @SuppressWarnings("try") // the spawn lock is held for the block's duration, never referenced in it
  private DaemonInfo coldPath(ServiceDefinition definition, ServiceLayout paths, long start,
      Decision.Replace hotReplace) throws IOException {
    Decision.SideBySide[] beside = new Decision.SideBySide[1];
    DaemonInfo info = coldPath(definition, paths, start, hotReplace, null, beside);
    return info != null ? info : besides(definition, paths, beside[0], start);
  }

  /**
   * Reuses or starts the daemon with this definition's compatibility key beside the service's first
   * one ({@code beside} says which and what differs), in the files named after the key, within the
   * definition's bound on side-by-side daemons.
   */
  private DaemonInfo besides(ServiceDefinition definition, ServiceLayout primary, Decision.SideBySide beside,
      long start) throws IOException {
    ServiceLayout keyed = SideBySide.layout(definition, primary);
    SideBySide.log(definition, beside);
    Assessment k = assessor.assess(definition, keyed);
    Decision.Replace replace = null;
    if (k instanceof Assessment.Healthy h) {
      Decision d = Decision.about(definition, h, start);
      if (d instanceof Decision.Reuse reuse) {
        return reuse.daemon();
      }
      if (d instanceof Decision.Replace r) {
        replace = r;
      }
    }
    DaemonInfo info = coldPath(definition, keyed, start, replace, beside, new Decision.SideBySide[1]);
    if (info == null) {
      throw new IllegalStateException("daemon '" + definition.name() + "': the side-by-side daemon at "
          + keyed.endpoint() + " records another compatibility key than its file names say");
    }
    return info;
  }

  /**
   * The cold path of one slot. Returns null, with {@code goBeside[0]} set, when the daemon found under
   * the lock must be left alone for one beside it ({@link Decision.SideBySide}); the caller then goes
   * there after the lock is released. {@code besideOf} is set for a side-by-side slot: its spawn then
   * reports {@link SpawnReason#COMPATIBILITY_MISMATCH} and keeps within the bound.
   */
  private DaemonInfo coldPath(ServiceDefinition definition, ServiceLayout paths, long start,
      Decision.Replace hotReplace, Decision.SideBySide besideOf, Decision.SideBySide[] goBeside) throws IOException {
    try (SpawnLock lock = SpawnLock.acquire(paths.spawnLock(), definition.name(), definition.spawnLockPatience())) {
      RuntimeFiles.removeStaleTemps(paths);
      Assessment a = assessor.assess(definition, paths);
      java.io.FileDescriptor predecessor = null;
      SpawnReason reason;
      String detail;
      if (a instanceof Assessment.Untrusted u) {
        throw u.error();
      } else if (a instanceof Assessment.Healthy h) {
        Decision d = hotReplace != null && hotReplace.instanceId().equals(h.record().instanceId())
            ? hotReplace : Decision.about(definition, h, start);
        if (d instanceof Decision.Reuse reuse) {
          return reuse.daemon();
        }
        if (d instanceof Decision.SideBySide other) {
          goBeside[0] = other;
          return null;
        }
        Decision.Replace replace = (Decision.Replace) d;
        SideBySide.logReplacement(definition, replace);
        reason = replace.reason();
        detail = replace.detail();
        predecessor = replace(definition, paths, h.record());
      } else if (a instanceof Assessment.Stale s) {
        reason = s.reason();
        detail = s.detail() + Deaths.suffix(Deaths.complete(definition, paths, s).map(Deaths::toPublic));
        Stopping.clearStale(definition, paths, s);
      } else {
        reason = SpawnReason.ABSENT;
        detail = "no lockfile at " + paths.lockfile() + Deaths.suffix(Deaths.last(definition, paths, a));
        Trust.clearEndpoints(definition, paths, "there is no lockfile");
      }
      if (besideOf != null && reason != SpawnReason.COMPATIBILITY_MISMATCH) {
        detail = "started beside pid " + besideOf.pid() + ", whose compatibility key differs: " + besideOf.diff()
            + " (" + detail + ")" + SideBySide.retireBeyondBound(definition, paths, assessor);
        reason = SpawnReason.COMPATIBILITY_MISMATCH;
      }
      detail = detail + dev.fastbind.broker.internal.OtherRuntimeDirectory.note(definition);
      Optional<DaemonStartException> previous = Handoffs.takeFailure(paths);
      if (previous.isPresent()) {
        detail = detail + "; the previous start failed: " + previous.get().getMessage();
      }
      return coldStart.spawn(definition, paths, reason, detail, start, lock, predecessor);
    }
  }

  /**
   * Clears the way for a replacement of the verified daemon {@code r}: with the hand-off, takes its
   * listening socket (it then drains and exits on its own) and returns it for the successor, so no
   * connection is refused meanwhile; otherwise, or when the daemon cannot hand over, stops it within
   * one more probe budget (SHUTDOWN, then signals), not the 5 s a person's stop may wait: a wedged
   * daemon must not stretch the launcher's call. Returns null when it was stopped.
   */
  private static java.io.FileDescriptor replace(ServiceDefinition definition, ServiceLayout paths,
      dev.fastbind.backend.internal.wire.LockfileRecord r) throws IOException {
    if (definition.listenerHandoff()) {
      try {
        // Only the recorded daemon, proven by the kernel, is asked to hand its socket over; an
        // impostor is reported (UntrustedStateException), never asked.
        Trust.verifiedHello(definition, paths, r, definition.probeBudget());
        Optional<java.io.FileDescriptor> taken = Handoffs.takeOver(definition, paths, r);
        if (taken.isPresent()) {
          return taken.get();
        }
      } catch (UntrustedStateException e) {
        throw e;
      } catch (IOException e) {
        // No answer, or the hand-over did not happen (the daemon then still serves, or is gone):
        // stop it as a replacement without hand-off does.
      }
    }
    Stopping.terminate(definition, paths, r, definition.probeBudget());
    return null;
  }

  /**
   * Replaces the running daemon of {@code definition} by a fresh one, or starts one when none runs.
   * With {@link ServiceDefinition#listenerHandoff()} the listening socket passes from the old daemon
   * to the new one: the old one stops accepting and drains what it accepted, the new one takes every
   * connection from then on, and no client is refused or reset meanwhile. Without it (or when the old
   * daemon's SDK cannot hand over) the old daemon is stopped first, then the new one started.
   *
   * @param definition the service to replace
   * @return the new daemon, with {@link SpawnReason#REPLACE_REQUESTED} (or the reason a start was
   *     needed anyway)
   * @throws IOException as {@link #ensureRunning} does
   */
  @Override
  public DaemonInfo replace(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    long start = System.nanoTime();
    if (definition.inProcessBackend().isPresent()) {
      return inProcess.replace(definition, start);
    }
    ServiceLayout paths = prepare(definition, true);
    Assessment hot = assessor.assess(definition, paths);
    Decision.Replace replace = hot instanceof Assessment.Healthy h
        ? new Decision.Replace(h.record().instanceId(), SpawnReason.REPLACE_REQUESTED,
            "replacement of pid " + h.record().pid() + " requested")
        : null;
    return coldPath(definition, paths, start, replace);
  }

  /**
   * Waits until a daemon that {@link #ensureRunning} returned as {@link DaemonInfo.Stage#BOUND}
   * announces that it serves, and says why when it never will.
   *
   * @param daemon what {@code ensureRunning} returned in this JVM
   * @param timeout how long to wait at most
   * @return the daemon as {@link DaemonInfo.Stage#SERVING}; {@code daemon} itself when it already
   *     served, or when this JVM did not start it (nothing more is known here)
   * @throws DaemonStartException if the daemon exited, refused the listener or was not ready within
   *     its probe budget: with its exit status and the tail of its log
   * @throws java.net.SocketTimeoutException if it is still starting after {@code timeout}
   * @throws IOException if the runtime directory cannot be read
   */
  @Override
  public DaemonInfo awaitServing(DaemonInfo daemon, Duration timeout) throws IOException {
    Objects.requireNonNull(daemon, "daemon");
    Objects.requireNonNull(timeout, "timeout");
    if (daemon.stage() == DaemonInfo.Stage.SERVING) {
      return daemon;
    }
    Optional<Handoffs.Start> start = Handoffs.byInstance(daemon.instanceId());
    return start.isPresent() ? start.get().await(timeout) : daemon;
  }

  /**
   * Reports the state of {@code definition}'s daemon without changing anything: it creates no file or
   * directory, deletes nothing and signals nothing. A live daemon is asked {@code HELLO}, which waits
   * at most the probe budget, and its answer counts only when the kernel confirms that the recorded
   * pid, running as this user, is on the other side of the control connection and the answer names
   * the recorded service, pid and instance; otherwise the status is {@link ServiceStatus.Untrusted}.
   *
   * @param definition the service to report on
   * @return one of the five {@link ServiceStatus} records; {@link ServiceStatus.Absent} also when the
   *     runtime directory does not exist
   * @throws RuntimeFileException if the runtime directory exists but is not a directory, not this
   *     user's or open to others
   * @throws IOException if the runtime files cannot be read
   */
  @Override
  public ServiceStatus status(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    if (definition.inProcessBackend().isPresent()) {
      return inProcess.status(definition);
    }
    ServiceLayout paths = prepare(definition, false);
    if (paths == null) {
      return new ServiceStatus.Absent(definition.name());
    }
    return statusAt(definition, paths);
  }


  /**
   * Stops {@code definition}'s daemon with the default grace period of 5 s; see {@link #stop(ServiceDefinition, Duration)}.
   *
   * @param definition the service to stop
   * @return how the stop ended; every value means no daemon of the service runs any more
   * @throws IOException as {@link #stop(ServiceDefinition, Duration)} throws, most often a
   *     {@link SpawnLockTimeoutException} or an {@link UntrustedStateException}
   */
  @Override
  public StopResult stop(ServiceDefinition definition) throws IOException {
    return stop(definition, ServiceDefinition.DEFAULT_STOP_GRACE);
  }

  /**
   * Stops {@code definition}'s daemon: {@code SHUTDOWN} over the control endpoint, then
   * {@code SIGTERM}, then {@code SIGKILL} of its process group once {@code grace} has passed since
   * the call took the spawn lock. Removes the lockfile and socket files if the daemon left them. Idempotent: a
   * service that is not running yields {@link StopResult#NOT_RUNNING}. Holds the service's spawn lock,
   * so no launcher spawns a new daemon halfway through.
   *
   * <p>Only a process the kernel confirms as this service's daemon is signalled or asked to shut
   * down (see the class doc); a record that fails the check is refused with
   * {@link UntrustedStateException} and nothing is signalled or deleted.
   *
   * @param definition the service to stop
   * @param grace how long the daemon has to exit before {@code SIGKILL}: after an acknowledged
   *     {@code SHUTDOWN} it gets three quarters of what is left, then {@code SIGTERM} the rest. Zero
   *     kills at once; the call may take up to 2 s more while a killed process tree goes away
   * @return how the stop ended; every value means no daemon of the service runs any more
   * @throws IllegalArgumentException if {@code grace} is negative
   * @throws SpawnLockTimeoutException if another launcher held the spawn lock beyond the definition's
   *     {@linkplain ServiceDefinition#spawnLockPatience() patience}; nothing was changed
   * @throws UntrustedStateException if the record names a process that is not provably the daemon, the
   *     control endpoint answers for another process, the lockfile cannot be read while an endpoint
   *     answers, or an endpoint is held by a process without a record
   * @throws RuntimeFileException if the runtime directory is not a directory, not this user's or open
   *     to others
   * @throws IOException for other I/O failures in the runtime directory
   */
  @Override
  public StopResult stop(ServiceDefinition definition, Duration grace) throws IOException {
    Objects.requireNonNull(definition, "definition");
    requireGrace(grace);
    if (definition.inProcessBackend().isPresent()) {
      return inProcess.stop(definition, grace);
    }
    return stopSlot(definition, prepare(definition, true), grace);
  }

  private static void requireGrace(Duration grace) {
    Objects.requireNonNull(grace, "grace");
    if (grace.isNegative()) {
      throw new IllegalArgumentException("grace must not be negative, got " + grace);
    }
  }

  /**
   * Stops the daemon of one slot ({@code paths}: the service's first, or one beside it) under the
   * slot's spawn lock: a process only once the kernel confirms it as the recorded daemon; stale or
   * absent state is cleared.
   */
  @SuppressWarnings("try") // the spawn lock is held for the block's duration, never referenced in it
  private StopResult stopSlot(ServiceDefinition definition, ServiceLayout paths, Duration grace) throws IOException {
    try (SpawnLock lock = SpawnLock.acquire(paths.spawnLock(), definition.name(), definition.spawnLockPatience())) {
      RuntimeFiles.removeStaleTemps(paths);
      Assessment a = assessor.assess(definition, paths);
      if (a instanceof Assessment.Untrusted u) {
        throw u.error();
      }
      if (a instanceof Assessment.Absent) {
        return Trust.clearEndpoints(definition, paths, "there is no lockfile")
            ? StopResult.CLEANED_STALE : StopResult.NOT_RUNNING;
      }
      if (a instanceof Assessment.Stale s) {
        if (s.processAlive() && s.record().isPresent()) {
          // Its process lives: stop it only once confirmed as the daemon, otherwise refuse.
          return Stopping.terminate(definition, paths, s.record().get(), grace);
        }
        Stopping.clearStale(definition, paths, s);
        return StopResult.CLEANED_STALE;
      }
      return Stopping.terminate(definition, paths, ((Assessment.Healthy) a).record(), grace);
    }
  }

  /**
   * The per-user default runtime directory: where a definition without its own
   * {@linkplain ServiceDefinition#runtimeDirectory() runtime directory} keeps its files.
   *
   * @return {@code $XDG_RUNTIME_DIR/fastbind} when that variable holds an absolute path, else
   *     {@code <java.io.tmpdir>/fastbind-<user.name>}; nothing is created or checked
   */
  public static Path defaultRuntimeDirectory() {
    return RuntimeDirectory.defaultFor(Env.APP);
  }

  /**
   * Every daemon slot in the {@linkplain #defaultRuntimeDirectory() default runtime directory}; see
   * {@link #list(Path)}.
   *
   * @return the slots found, ordered by service name, the service's first daemon before those beside it
   * @throws IOException as {@link #list(Path)} throws
   */
  @Override
  public List<ListedDaemon> list() throws IOException {
    return list(defaultRuntimeDirectory());
  }

  /**
   * Every daemon slot in {@code runtimeDirectory}, found from its lockfiles ({@code s.lock}, and
   * {@code s~<id>.lock} for daemons beside the service's first one), each checked as
   * {@link #status} checks it: a live daemon is asked {@code HELLO} and counts only when the kernel
   * confirms it. What an operator's {@code list} shows, and what a launcher can offer the same way.
   * Like {@code status} it changes nothing: it creates no file or directory, deletes nothing and
   * signals nothing. Files whose names are not a service's lockfile are ignored.
   *
   * <p>Each slot is asked in turn with a {@link ServiceDefinition#existing} definition, so the call
   * takes up to {@link ServiceDefinition#EXISTING_PROBE_BUDGET} (2 s) per daemon that does not answer.
   *
   * @param runtimeDirectory the directory to look in; absolute
   * @return the slots found, ordered by service name, the service's first daemon before those beside
   *     it; empty when the directory does not exist
   * @throws IllegalArgumentException if {@code runtimeDirectory} is relative
   * @throws RuntimeFileException if the directory exists but is not a directory, not this user's or
   *     open to others
   * @throws IOException if the directory cannot be read
   */
  @Override
  public List<ListedDaemon> list(Path runtimeDirectory) throws IOException {
    Objects.requireNonNull(runtimeDirectory, "runtimeDirectory");
    if (!runtimeDirectory.isAbsolute()) {
      throw new IllegalArgumentException("the runtime directory must be an absolute path, got '"
          + runtimeDirectory + "'");
    }
    Path dir = runtimeDirectory.normalize();
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return List.of();
    }
    try {
      RuntimeDirectory.ensureOwnerOnly(dir);
    } catch (UnsafeRuntimeDirectoryException e) {
      throw new RuntimeFileException(dir, e.getMessage(), e);
    }
    java.util.TreeMap<String, ServiceLayout> slots = new java.util.TreeMap<>();
    try (java.nio.file.DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + ServiceLayout.LOCKFILE_SUFFIX)) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        String prefix = name.substring(0, name.length() - ServiceLayout.LOCKFILE_SUFFIX.length());
        int sep = prefix.indexOf(ServiceLayout.KEY_SEPARATOR);
        String service = sep < 0 ? prefix : prefix.substring(0, sep);
        String id = sep < 0 ? null : prefix.substring(sep + 1);
        if (!service.matches(ServiceDefinition.NAME_RULE) || (id != null && !id.matches("[0-9a-f]{16}"))) {
          continue; // not a name this SDK writes
        }
        try {
          // Sorted by service, then the first daemon ("s" + " ") before those beside it ("s" + "~").
          slots.put(service + (id == null ? " " : "~" + id),
              id == null ? ServiceLayout.of(service, dir) : ServiceLayout.keyed(service, dir, id));
        } catch (dev.fastbind.backend.BindException.InvalidEndpoint e) {
          // its sockets could not exist in this directory: not a daemon slot
        }
      }
    }
    List<ListedDaemon> found = new java.util.ArrayList<>();
    for (java.util.Map.Entry<String, ServiceLayout> e : slots.entrySet()) {
      ServiceLayout paths = e.getValue();
      ServiceDefinition definition = ServiceDefinition.existing(paths.service(), dir);
      ServiceStatus st = statusAt(definition, paths);
      String key = e.getKey();
      Optional<String> id = key.indexOf('~') < 0 ? Optional.empty() : Optional.of(key.substring(key.indexOf('~') + 1));
      String compatibility = "";
      Optional<String> version = Optional.empty();
      try {
        Optional<LockfileRecord> r = dev.fastbind.backend.internal.Lockfiles.read(paths.lockfile());
        if (r.isPresent()) {
          compatibility = r.get().compatibility();
          version = r.get().daemonVersion().isEmpty() ? Optional.empty() : Optional.of(r.get().daemonVersion());
        }
      } catch (dev.fastbind.backend.internal.wire.LockfileException unreadable) {
        // the status says why
      }
      Optional<Duration> uptime = Optional.empty();
      java.util.OptionalLong rss = java.util.OptionalLong.empty();
      long pid = st instanceof ServiceStatus.Running r ? r.daemon().pid()
          : st instanceof ServiceStatus.Unresponsive u ? u.pid() : -1;
      if (pid > 0) {
        uptime = ProcessHandle.of(pid).flatMap(h -> h.info().startInstant())
            .map(t -> Duration.between(t, java.time.Instant.now()));
        rss = residentBytes(pid);
      }
      found.add(new ListedDaemon(paths.service(), id, paths.lockfile(), paths.log(), st, compatibility, version,
          uptime, rss));
    }
    return List.copyOf(found);
  }

  /**
   * Stops the daemon of one slot that {@link #list(Path)} found, the service's first daemon or one
   * beside it, as {@link #stop(ServiceDefinition, Duration)} stops a service's: under the slot's spawn
   * lock, and only a process the kernel confirms as the recorded daemon.
   *
   * @param daemon a slot {@code list} returned
   * @param grace how long the daemon has to exit before {@code SIGKILL}
   * @return how the stop ended; every value means the slot's daemon no longer runs
   * @throws IOException as {@link #stop(ServiceDefinition, Duration)} throws, most often an
   *     {@link UntrustedStateException}
   */
  @Override
  public StopResult stop(ListedDaemon daemon, Duration grace) throws IOException {
    Objects.requireNonNull(daemon, "daemon");
    requireGrace(grace);
    Path dir = daemon.lockfile().getParent();
    ServiceDefinition definition = ServiceDefinition.existing(daemon.service(), dir);
    if (daemon.compatibilityId().isEmpty()) {
      return stop(definition, grace);
    }
    ServiceLayout paths = ServiceLayout.keyed(daemon.service(), dir, daemon.compatibilityId().get());
    try {
      RuntimeDirectory.ensureOwnerOnly(dir);
    } catch (UnsafeRuntimeDirectoryException e) {
      throw new RuntimeFileException(dir, e.getMessage(), e);
    }
    return stopSlot(definition, paths, grace);
  }

  /**
   * {@link #status}'s checks for one slot's files ({@code paths}, the service's first daemon or one
   * beside it); the directory has been checked.
   */
  private ServiceStatus statusAt(ServiceDefinition definition, ServiceLayout paths) throws IOException {
    long start = System.nanoTime();
    Assessment a = assessor.assess(definition, paths);
    if (a instanceof Assessment.Untrusted u) {
      return untrusted(u.error());
    }
    if (!(a instanceof Assessment.Healthy h)) {
      Optional<DaemonInfo> starting = Handoffs.starting(definition, paths);
      if (starting.isPresent()) {
        return new ServiceStatus.Running(starting.get(), false, 0,
            Optional.of("starting: the broker bound the endpoint and handed it over; the daemon has not yet"
                + " announced that it serves"));
      }
      Optional<UntrustedStateException> held = Trust.heldEndpoint(definition, paths, "there is "
          + (a instanceof Assessment.Absent ? "no lockfile" : "no live daemon recorded"));
      if (held.isPresent()) {
        return untrusted(held.get());
      }
      Optional<DeathRecord> last = Deaths.last(definition, paths, a);
      if (a instanceof Assessment.Stale s) {
        return new ServiceStatus.Stale(definition.name(), s.reason(), s.detail()
            + (last.isPresent() ? "; " + last.get().summary() : ""), last);
      }
      return new ServiceStatus.Absent(definition.name(), last);
    }
    LockfileRecord r = h.record();
    HelloReply hello;
    try {
      hello = Trust.verifiedHello(definition, paths, r, definition.probeBudget());
    } catch (UntrustedStateException e) {
      return untrusted(e);
    } catch (ControlProtocolException e) {
      return untrusted(Trust.impostor(definition, paths, r.pid(), "it answered outside the control protocol: "
          + e.getMessage()));
    } catch (IOException e) {
      // Timed out, refused (a full backlog) or hung up (stopping, or its connection cap reached): a
      // daemon the broker's mark confirms is unresponsive; anything else is not known to be the daemon.
      if (!(DaemonVerification.verify(paths, r) instanceof DaemonVerification.Verified)) {
        return untrusted(new UntrustedStateException(definition.name(),
            UntrustedStateException.Kind.UNVERIFIED_PROCESS, paths.lockfile(), r.pid(), "daemon '"
                + definition.name() + "': pid " + r.pid() + " named by " + paths.lockfile()
                + " did not answer HELLO as the recorded daemon (" + e.getMessage() + ") and carries no mark of"
                + " having been started as it; it is not treated as the daemon"));
      }
      return new ServiceStatus.Unresponsive(definition.name(), r.pid(), definition.probeBudget(),
          describeUnresponsive(r.pid(), e));
    }
    DaemonInfo info = Assessor.info(definition, r, Optional.empty(), "", start);
    return new ServiceStatus.Running(info, hello.state() == DaemonState.READY, hello.progressPercent(),
        hello.phase());
  }

  /** {@code VmRSS} of {@code /proc/<pid>/status}, in bytes; empty without procfs. */
  private static java.util.OptionalLong residentBytes(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
        if (line.startsWith("VmRSS:")) {
          String[] parts = line.substring(6).trim().split("\\s+");
          long kib = Long.parseLong(parts[0]);
          return java.util.OptionalLong.of(kib * 1024);
        }
      }
    } catch (IOException | RuntimeException e) {
      // gone meanwhile, or no procfs
    }
    return java.util.OptionalLong.empty();
  }

  /**
   * Removes, from the per-user default runtime directory, the files of services that have not run
   * for {@code unusedFor}; see {@link #clean(Path, Duration)}.
   *
   * @param unusedFor how long a service's files must have been left unchanged
   * @return the files removed
   * @throws IOException as {@link #clean(Path, Duration)} throws
   */
  @Override
  public List<Path> clean(Duration unusedFor) throws IOException {
    return clean(RuntimeDirectory.defaultFor(Env.APP), unusedFor);
  }

  /**
   * Removes the files of services that have not run for {@code unusedFor} from {@code runtimeDirectory}:
   * a service none of whose files changed for that long and none of whose daemons may be alive (a
   * lockfile naming a live process with the recorded start time in this boot, or an endpoint that
   * answers or is bound, keeps all of the service's files) loses its lockfile, logs, death records,
   * crash-loop count, class-data-sharing archives and, once nothing listens on them, its socket
   * files. Of the services kept, death records and rotated logs older than {@code unusedFor} go.
   * Symbolic links, directories and files not named after a service are never touched or followed.
   *
   * @param runtimeDirectory the directory to clean; nothing happens when it does not exist
   * @param unusedFor how long a service's files must have been left unchanged; not negative
   * @return the files removed, in the order removed
   * @throws IllegalArgumentException if {@code unusedFor} is negative
   * @throws RuntimeFileException if the directory is not a directory, not this user's or open to others
   * @throws IOException if the directory cannot be listed
   */
  @Override
  public List<Path> clean(Path runtimeDirectory, Duration unusedFor) throws IOException {
    Objects.requireNonNull(runtimeDirectory, "runtimeDirectory");
    Objects.requireNonNull(unusedFor, "unusedFor");
    if (unusedFor.isNegative()) {
      throw new IllegalArgumentException("unusedFor must not be negative, got " + unusedFor);
    }
    if (!Files.exists(runtimeDirectory, LinkOption.NOFOLLOW_LINKS)) {
      return List.of();
    }
    try {
      RuntimeDirectory.ensureOwnerOnly(runtimeDirectory);
    } catch (UnsafeRuntimeDirectoryException e) {
      throw new RuntimeFileException(runtimeDirectory, e.getMessage(), e);
    }
    return List.copyOf(Cleaning.clean(runtimeDirectory, unusedFor));
  }

  /**
   * The newest death record of {@code definition}'s daemon, changing nothing: how the last daemon
   * ended, from the record its exit left (see {@link DeathRecord}). When the lockfile names a process
   * that is gone and left no record (a {@code kill -9}, a crash), what the broker will record at its
   * next {@link #ensureRunning} or {@link #stop}: that it vanished, with the exit status if this JVM
   * started it, its log tail and any fatal-error log. This reads the service's first daemon slot
   * ({@code SERVICE.death-…}); a side-by-side daemon's records sit beside its own files
   * ({@code SERVICE~<id>.death-…}).
   *
   * @param definition the service asked about
   * @return the newest record; empty when the service never ended (or its records aged out)
   * @throws RuntimeFileException if the runtime directory exists but is not a directory, not this
   *     user's or open to others
   * @throws IOException if the runtime directory cannot be read
   */
  @Override
  public Optional<DeathRecord> lastDeath(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    if (definition.inProcessBackend().isPresent()) {
      return inProcess.lastDeath(definition);
    }
    ServiceLayout paths = prepare(definition, false);
    if (paths == null) {
      return Optional.empty();
    }
    Assessment a = assessor.assess(definition, paths);
    return Deaths.last(definition, paths, a);
  }

  /**
   * Checks the runtime directory on every call and remembers the paths in it for the last service
   * asked about. With {@code create} false a missing directory yields null and nothing is created.
   *
   * @throws RuntimeFileException if the directory is not a directory, not owned by this user or open
   *     to others
   */
  private ServiceLayout prepare(ServiceDefinition definition, boolean create) throws IOException {
    Path dir = runtimeDirectory(definition);
    if (!create && !Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return null;
    }
    try {
      RuntimeDirectory.ensureOwnerOnly(dir);
    } catch (UnsafeRuntimeDirectoryException e) {
      throw new RuntimeFileException(dir, e.getMessage(), e);
    }
    PathsOf last = lastPaths;
    if (last != null && last.service().equals(definition.name()) && last.directory().equals(dir)) {
      return last.paths();
    }
    ServiceLayout paths = ServiceLayout.of(definition.name(), dir);
    Endpoint.unixPath(paths.notifySocket()); // the broker's own socket must fit too: checked after the daemon's
    lastPaths = new PathsOf(definition.name(), dir, paths);
    return paths;
  }

  private record PathsOf(String service, Path directory, ServiceLayout paths) {}

  private static ServiceStatus.Untrusted untrusted(UntrustedStateException e) {
    return new ServiceStatus.Untrusted(e.service(), e.kind(), e.getMessage());
  }

  private static String describeUnresponsive(long pid, IOException e) {
    ProcessIdentity.Stat st = ProcessIdentity.stat(pid);
    return (st != null && st.stopped() ? "process state " + st.state() + " (stopped); " : "") + e.getMessage();
  }
}
