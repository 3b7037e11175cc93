package dev.fastbind.broker.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.Handoff;
import dev.fastbind.backend.internal.Listeners;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.DaemonStartException;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.SpawnReason;
import java.io.FileDescriptor;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Cold starts with the listener hand-off, and the hand-over of a running daemon's listener to its
 * replacement (see {@link Handoff} for the protocol).
 *
 * <p><b>A cold start</b> runs under the spawn lock: bind the endpoint (the bind is the election: a
 * live listener is never replaced, and the caller cleared dead files), spawn the daemon with the
 * rendezvous in its environment, and return {@link DaemonInfo.Stage#BOUND}. A thread of its own then
 * gives the socket to the daemon, closes the broker's copy, waits for {@code READY} as a cold start
 * without hand-off does, and releases the spawn lock only then: another launcher that finds the
 * socket but no lockfile yet waits on the lock, and afterwards finds the daemon's own lockfile (or,
 * after a failure, a clean directory). In this JVM a second call for the same service returns the
 * same {@code BOUND} answer at once. If the launcher's JVM exits meanwhile, a shutdown hook waits
 * for each unfinished start (at most its deadline), so the socket never closes under a daemon that
 * was about to take it; a {@code kill -9} of the launcher loses the broker's copy, the connections
 * waiting on it are reset, and the daemon, finding no rendezvous, fails closed.
 *
 * <p><b>A failure</b> (the daemon exits, times out or refuses the socket) kills what was spawned,
 * removes the socket file the broker bound and any lockfile the daemon wrote; closing the last copy
 * of the socket resets the connections waiting in its backlog. The {@link DaemonStartException} is
 * kept for {@link #awaitServing} and for the next call's spawn detail.
 */
public final class Handoffs {

  private Handoffs() {}

  /** How long a failed hand-off waits for the daemon's own exit before it reports a timeout instead. */
  private static final long EXIT_GRACE_MILLIS = 500;

  private static final ConcurrentHashMap<Path, Start> IN_FLIGHT = new ConcurrentHashMap<>();
  private static final ConcurrentHashMap<Path, DaemonStartException> LAST_FAILURE = new ConcurrentHashMap<>();
  private static final AtomicBoolean HOOKED = new AtomicBoolean();

  /** One cold start with hand-off: its {@code BOUND} answer and how it ended. */
  public static final class Start {
    private final DaemonInfo bound;
    private final long endNanos;
    private final CompletableFuture<DaemonInfo> serving = new CompletableFuture<>();

    Start(DaemonInfo bound, long endNanos) {
      this.bound = bound;
      this.endNanos = endNanos;
    }

    /** What {@code ensureRunning} returned. */
    public DaemonInfo bound() {
      return bound;
    }

    /** Whether the start has ended, either way. */
    public boolean done() {
      return serving.isDone();
    }

    /**
     * Waits at most {@code timeout} for the daemon to serve.
     *
     * @throws DaemonStartException if the start failed
     * @throws java.net.SocketTimeoutException if it is still under way after {@code timeout}
     */
    public DaemonInfo await(Duration timeout) throws IOException {
      try {
        return serving.get(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
      } catch (ExecutionException e) {
        if (e.getCause() instanceof IOException io) {
          throw io;
        }
        throw new IOException(e.getCause());
      } catch (TimeoutException e) {
        throw new java.net.SocketTimeoutException("daemon '" + bound.service() + "' (pid " + bound.pid()
            + ") had not announced that it serves after " + timeout);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while waiting for daemon '" + bound.service() + "'");
      }
    }
  }

  /** The unfinished hand-off start of this service in this JVM, if there is one. */
  public static Optional<Start> inFlight(ServiceLayout paths) {
    Start s = IN_FLIGHT.get(paths.lockfile());
    return s == null || s.done() ? Optional.empty() : Optional.of(s);
  }

  /**
   * A hand-off start under way, seen from any launcher: this JVM's own, or another launcher's that
   * holds both the spawn lock and the endpoint and has a child carrying this spawn's mark and the
   * hand-off variables. What {@code status} reports between the broker's bind and the daemon's
   * lockfile, when the directory holds a live socket and no lockfile.
   */
  public static Optional<DaemonInfo> starting(ServiceDefinition definition, ServiceLayout paths) {
    Optional<Start> own = inFlight(paths);
    if (own.isPresent()) {
      return Optional.of(own.get().bound());
    }
    long locker = SpawnLock.holderPid(paths.spawnLock());
    if (locker <= 1) {
      return Optional.empty();
    }
    for (dev.fastbind.backend.internal.SocketHolders.Holder h
        : dev.fastbind.backend.internal.SocketHolders.holders(paths.endpoint())) {
      if (h.pid() != locker) {
        continue;
      }
      Optional<ProcessHandle> child = ProcessHandle.of(h.pid()).flatMap(p -> p.children()
          .filter(c -> DaemonVerification.startedByABroker(c.pid(), paths)
              && DaemonVerification.environValue(c.pid(), Env.HANDOFF).isPresent())
          .findFirst());
      if (child.isPresent()) {
        long pid = child.get().pid();
        return Optional.of(new DaemonInfo(definition.name(), paths.endpoint(), paths.controlEndpoint(), pid,
            DaemonVerification.environValue(pid, Env.INSTANCE_ID).orElse(""), Optional.empty(), Optional.empty(),
            "", Duration.ZERO, DaemonInfo.Stage.BOUND));
      }
    }
    return Optional.empty();
  }

  /** The start in this JVM that returned {@code instanceId}, finished or not, if it is still known. */
  public static Optional<Start> byInstance(String instanceId) {
    for (Start s : IN_FLIGHT.values()) {
      if (s.bound().instanceId().equals(instanceId)) {
        return Optional.of(s);
      }
    }
    return Optional.empty();
  }

  /** The failure of this service's last hand-off start in this JVM, forgotten once taken. */
  public static Optional<DaemonStartException> takeFailure(ServiceLayout paths) {
    return Optional.ofNullable(LAST_FAILURE.remove(paths.lockfile()));
  }

  static DaemonInfo spawn(ColdStart cold, ServiceDefinition definition, ServiceLayout paths, SpawnReason reason,
      String detail, long start, long logFrom, SharedArchive.Plan sharing, long deadline, SpawnLock lock,
      FileDescriptor predecessor) throws IOException {
    RuntimeFiles.clearDeadSocket(paths.handoffSocket());
    IpcListener bound = null;
    if (predecessor == null) {
      try {
        bound = Listeners.bind(paths.endpoint());
      } catch (BindException e) {
        throw new IOException("daemon '" + definition.name() + "': cannot bind " + paths.endpoint()
            + " to hand it to the daemon: " + e.getMessage(), e);
      }
    }
    ReadinessWait notify;
    try {
      notify = ReadinessWait.bind(paths.notifySocket());
    } catch (IOException | RuntimeException e) {
      Listeners.closeQuietly(bound);
      throw e;
    }
    String instanceId = LockfileRecord.newInstanceId();
    long patienceMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
    Map<String, String> extra = Map.of(
        Env.HANDOFF, paths.handoffSocket().toString(),
        Env.HANDOFF_PARENT, Long.toString(ProcessHandle.current().pid()),
        Env.HANDOFF_PATIENCE_MS, Long.toString(patienceMillis),
        Env.INSTANCE_ID, instanceId);
    if (definition.javaMainClass().isPresent() && !setsLibraryPath(definition)) {
      // A copy of junixsocket's native library kept by an earlier hand-off: the daemon loads it instead
      // of extracting it first, which is most of what taking the listener costs it (NativeLibraryCopy).
      Optional<String> library = NativeLibraryCopy.option(paths.directory());
      if (library.isPresent()) {
        java.util.List<String> options = new java.util.ArrayList<>(sharing.options());
        options.add(library.get());
        sharing = new SharedArchive.Plan(options, sharing.archive(), sharing.readsArchive());
      }
    }
    long spawnStart = System.nanoTime();
    Process child;
    try {
      child = Spawner.spawn(definition, paths, notify.path(), sharing, extra);
    } catch (IOException | RuntimeException e) {
      closeQuietly(notify);
      Listeners.closeQuietly(bound);
      throw e;
    }
    cold.metrics().spawn(definition.javaMainClass().isPresent() ? "java" : "command", System.nanoTime() - spawnStart);
    DaemonInfo info = new DaemonInfo(definition.name(), paths.endpoint(), paths.controlEndpoint(), child.pid(),
        instanceId, definition.version(), Optional.of(reason), detail, Duration.ofNanos(System.nanoTime() - start),
        DaemonInfo.Stage.BOUND);
    Start task = new Start(info, deadline + ColdStart.KILL_MARGIN.toNanos());
    SpawnLock held = lock.transfer();
    LAST_FAILURE.remove(paths.lockfile());
    IN_FLIGHT.put(paths.lockfile(), task);
    hookOnce();
    IpcListener listener = bound;
    Thread finisher = new Thread(() -> finish(cold, definition, paths, reason, detail, start, logFrom, deadline, held,
        listener, predecessor, notify, child, spawnStart, task), "fastbind-handoff-" + definition.name());
    finisher.setDaemon(true);
    finisher.start();
    return info;
  }

  private static void finish(ColdStart cold, ServiceDefinition definition, ServiceLayout paths, SpawnReason reason,
      String detail, long start, long logFrom, long deadline, SpawnLock lock, IpcListener bound,
      FileDescriptor predecessor, ReadinessWait notify, Process child, long spawnStart, Start task) {
    boolean served = false;
    try {
      boolean given = false;
      try (Handoff.Rendezvous rendezvous = Handoff.Rendezvous.bind(paths.handoffSocket())) {
        FileDescriptor fd = predecessor != null ? predecessor : Handoff.descriptorOf(paths.endpoint());
        rendezvous.give(fd, paths.endpoint(), child.pid(), deadline, pid -> child.isAlive());
        given = true;
      } catch (IOException | RuntimeException | LinkageError e) {
        DaemonStartException failed = handoffFailure(definition, paths, child, spawnStart, logFrom, e);
        // The broker's own copy goes first (removing the file it bound): the clean-up must not find
        // the endpoint held, by this very process, and advise killing it.
        Listeners.closeQuietly(bound);
        Handoff.closeDescriptor(predecessor);
        ColdStart.cleanUpFailed(definition, paths, child, deadline, failed);
        throw failed;
      } finally {
        if (given) {
          Listeners.keepSocketFile(bound); // the daemon holds it now and owns its file
        }
        Listeners.closeQuietly(bound); // without the keep, this removes the file the broker bound
        Handoff.closeDescriptor(predecessor);
      }
      task.serving.complete(cold.awaitServing(definition, paths, child, notify, reason, detail, start, spawnStart,
          logFrom, deadline));
      served = true;
    } catch (DaemonStartException e) {
      LAST_FAILURE.put(paths.lockfile(), e);
      task.serving.completeExceptionally(e);
    } catch (IOException | RuntimeException | Error e) {
      DaemonStartException failed = ColdStart.failure(definition, paths, DaemonStartException.Failure.TIMED_OUT,
          spawnStart, ColdStart.exitStatusIfExited(child), "the start failed in the broker: " + e, logFrom);
      ColdStart.cleanUpFailed(definition, paths, child, deadline, failed);
      LAST_FAILURE.put(paths.lockfile(), failed);
      task.serving.completeExceptionally(failed);
    } finally {
      closeQuietly(notify);
      try {
        lock.close();
      } catch (IOException e) {
        // the file lock goes with the channel at the latest; nothing to report to anyone
      }
    }
    if (served && definition.javaMainClass().isPresent()) {
      // For the next hand-off daemon (once per directory), after the start has been answered and the
      // spawn lock released: nothing waits for it, and nothing it meets can undo the start.
      try {
        NativeLibraryCopy.remember(paths.directory());
      } catch (RuntimeException | LinkageError e) {
        // no copy this time; the next hand-off start tries again
      }
    }
  }

  /** Whether the definition's own JVM options choose junixsocket's library; then the broker adds none. */
  private static boolean setsLibraryPath(ServiceDefinition definition) {
    for (String o : definition.javaOptions()) {
      if (o.startsWith("-D" + NativeLibraryCopy.PROPERTY + "=")) {
        return true;
      }
    }
    return false;
  }

  private static DaemonStartException handoffFailure(ServiceDefinition definition, ServiceLayout paths,
      Process child, long spawnStart, long logFrom, Throwable e) {
    // A daemon that refused the socket exits a moment after it closed the rendezvous: give it that
    // moment (bounded), so the same failure is always reported as the exit it is.
    try {
      child.waitFor(EXIT_GRACE_MILLIS, TimeUnit.MILLISECONDS);
    } catch (InterruptedException interrupted) {
      Thread.currentThread().interrupt();
    }
    int status = ColdStart.exitStatusIfExited(child);
    if (status >= 0) {
      return ColdStart.failure(definition, paths, DaemonStartException.Failure.EXITED, spawnStart, status,
          "it exited before it took the listener handed to it (the broker saw: " + e.getMessage() + ")", logFrom);
    }
    return ColdStart.failure(definition, paths, DaemonStartException.Failure.TIMED_OUT, spawnStart, -1,
        "the listener hand-off failed: " + e.getMessage(), logFrom);
  }

  /**
   * Takes the listening socket of the running daemon {@code r} for its replacement: asks it
   * {@code HANDOVER} (only the recorded pid, as this user, is asked) and receives the socket over the
   * rendezvous. The daemon then stops accepting, releases its control endpoint and lockfile, drains
   * what it accepted and exits on its own. Empty when the daemon cannot hand over (an SDK version
   * without it, a listener the JDK does not hold): the caller stops and starts it instead.
   */
  public static Optional<FileDescriptor> takeOver(ServiceDefinition definition, ServiceLayout paths,
      LockfileRecord r) throws IOException {
    long deadline = System.nanoTime() + definition.probeBudget().toNanos();
    RuntimeFiles.clearDeadSocket(paths.handoffSocket());
    try (Handoff.Rendezvous rendezvous = Handoff.Rendezvous.bind(paths.handoffSocket())) {
      try {
        ControlClient.handover(paths.controlEndpoint(), paths.handoffSocket(), definition.probeBudget(),
            ControlClient.expecting(paths.controlEndpoint(), r.pid()));
      } catch (dev.fastbind.backend.internal.wire.ControlProtocolException refused) {
        return Optional.empty();
      }
      return Optional.of(rendezvous.receive(paths.endpoint(), r.pid(), deadline,
          pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)));
    }
  }

  private static void closeQuietly(ReadinessWait notify) {
    try {
      notify.close();
    } catch (IOException e) {
      // a dead notify socket file is removed by the next start
    }
  }

  private static void hookOnce() {
    if (HOOKED.compareAndSet(false, true)) {
      Runtime.getRuntime().addShutdownHook(new Thread(Handoffs::awaitAll, "fastbind-handoff-exit"));
    }
  }

  /** At JVM exit: lets every unfinished start end, each within its own deadline. */
  private static void awaitAll() {
    for (Start s : IN_FLIGHT.values()) {
      long left = s.endNanos - System.nanoTime();
      if (left > 0 && !s.done()) {
        try {
          s.serving.get(left, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        } catch (ExecutionException | TimeoutException e) {
          // its own thread reports and cleans up; exiting now is all that is left
        }
      }
    }
  }
}
