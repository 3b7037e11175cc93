package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.ServeContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The daemon's SDK-side state: what the backend reports through {@link ServeContext}, and what the
 * control endpoint answers from it. Written by the backend's threads, read by control threads.
 */
final class ServeState implements ServeContext, ControlHandler, MeteredContext {
  private final String service;
  private final String version;
  private final long pid;
  private final String instanceId;
  private final List<String> arguments;
  private final List<Runnable> shutdownActions = new CopyOnWriteArrayList<>();

  /** Progress and phase change together; one immutable snapshot keeps HELLO consistent. */
  private volatile Progress progress = new Progress(false, 0, Optional.empty());

  private record Progress(boolean ready, int percent, Optional<String> phase) {}

  private final String compatibility;
  private final DaemonMetrics metrics;
  /** When the bootstrap began ({@link System#nanoTime()}): warm-up is timed from here. */
  private final long startedNanos;

  ServeState(String service, String version, long pid, String instanceId, List<String> arguments) {
    this(service, version, pid, instanceId, arguments, "");
  }

  ServeState(String service, String version, long pid, String instanceId, List<String> arguments,
      String compatibility) {
    this(service, version, pid, instanceId, arguments, compatibility, DaemonMetrics.NONE, System.nanoTime());
  }

  ServeState(String service, String version, long pid, String instanceId, List<String> arguments,
      String compatibility, DaemonMetrics metrics, long startedNanos) {
    this.metrics = Objects.requireNonNull(metrics, "metrics");
    this.startedNanos = startedNanos;
    this.compatibility = Objects.requireNonNull(compatibility, "compatibility");
    this.service = service;
    this.version = version;
    this.pid = pid;
    this.instanceId = instanceId;
    this.arguments = List.copyOf(arguments);
  }

  @Override
  public String service() {
    return service;
  }

  @Override
  public String version() {
    return version;
  }

  @Override
  public String instanceId() {
    return instanceId;
  }

  @Override
  public List<String> arguments() {
    return arguments;
  }

  @Override
  public synchronized void progress(int percent, String phase) {
    if (percent < 0 || percent > 100) {
      throw new IllegalArgumentException("progress must be within 0..100, got " + percent);
    }
    Objects.requireNonNull(phase, "phase");
    Progress p = progress;
    progress = new Progress(p.ready(), percent, phase.isBlank() ? Optional.empty() : Optional.of(phase));
  }

  @Override
  public synchronized void ready() {
    Progress p = progress;
    if (!p.ready()) {
      long now = System.nanoTime();
      lastActivityNanos = now; // the idle clock starts when warm-up ends
      metrics.warmedUp(now - startedNanos);
    }
    progress = new Progress(true, 100, p.phase());
  }

  @Override
  public DaemonMetrics metrics() {
    return metrics;
  }

  private final java.util.concurrent.atomic.AtomicBoolean exitCounted = new java.util.concurrent.atomic.AtomicBoolean();

  /**
   * Counts this daemon's end in its meters, once: the cause recorded so far, or SIGTERM when none
   * was (an end from outside the SDK), as the death record will say. Called from the shutdown hook
   * before the shutdown actions run, so that an action that reports the meters sees it.
   *
   * <p>Without meters it returns before touching any class: the hook may run with no descriptor free,
   * when loading a class fails (see {@code DescriptorPressureTest}). With meters, a failure to record
   * is printed and never stops the clean-up.
   */
  void countExit() {
    if (metrics == DaemonMetrics.NONE || !exitCounted.compareAndSet(false, true)) {
      return;
    }
    try {
      Ending e = ending.get();
      metrics.exiting(e == null ? DeathRecordCodec.Cause.SIGTERM : e.cause());
    } catch (RuntimeException | LinkageError ex) {
      System.err.println("fastbind: " + service + ": could not count the exit in the daemon's meters: " + ex);
    }
  }

  @Override
  public boolean isReady() {
    return progress.ready();
  }

  @Override
  public void onShutdown(Runnable action) {
    shutdownActions.add(Objects.requireNonNull(action, "action"));
  }

  void runShutdownActions() {
    for (Runnable action : new ArrayList<>(shutdownActions)) {
      try {
        action.run();
      } catch (RuntimeException e) {
        System.err.println("fastbind: " + service + ": a shutdown action failed: " + e);
      }
    }
  }

  private final java.util.concurrent.atomic.AtomicInteger busyCount = new java.util.concurrent.atomic.AtomicInteger();
  private volatile long lastActivityNanos = System.nanoTime();
  private final java.util.concurrent.atomic.AtomicBoolean stopping = new java.util.concurrent.atomic.AtomicBoolean();

  @Override
  public Busy busy() {
    busyCount.incrementAndGet();
    lastActivityNanos = System.nanoTime();
    java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
    return () -> {
      if (closed.compareAndSet(false, true)) {
        lastActivityNanos = System.nanoTime();
        busyCount.decrementAndGet();
      }
    };
  }

  @Override
  public void touch() {
    lastActivityNanos = System.nanoTime();
  }

  /** Work open now ({@link #busy()} handles not yet closed). */
  int busyCount() {
    return busyCount.get();
  }

  /** When activity was last seen ({@link System#nanoTime()}): a busy handle opened or closed, or a touch. */
  long lastActivityNanos() {
    return lastActivityNanos;
  }

  @Override
  public void requestShutdown(String reason) {
    Objects.requireNonNull(reason, "reason");
    stop(DeathRecordCodec.Cause.REQUESTED, "shutting down: " + reason, "requestShutdown: " + reason);
  }

  /** How this daemon is ending, as its death record will say; set once, by the first end seen. */
  record Ending(DeathRecordCodec.Cause cause, String detail, int exitStatus) {}

  private final java.util.concurrent.atomic.AtomicReference<Ending> ending =
      new java.util.concurrent.atomic.AtomicReference<>();

  /** Records how the daemon ends, unless an earlier end was recorded already. */
  void ending(DeathRecordCodec.Cause cause, String detail, int exitStatus) {
    ending.compareAndSet(null, new Ending(cause, detail, exitStatus));
  }

  /** How the daemon ends, if an end the SDK saw was recorded; empty means it was asked from outside (a signal). */
  Optional<Ending> ending() {
    return Optional.ofNullable(ending.get());
  }

  /**
   * Prints {@code line} and exits with status 0 (running the shutdown hook) on a thread of its own;
   * only the first request counts.
   */
  void stop(DeathRecordCodec.Cause cause, String line, String detail) {
    if (!stopping.compareAndSet(false, true)) {
      return;
    }
    ending(cause, detail, 0);
    System.err.println("fastbind: " + service + ": " + line);
    Thread t = new Thread(exit, "fastbind-stop");
    t.setDaemon(true);
    t.start();
  }

  /**
   * Starts the idle watch: once nothing has been busy for {@code timeout} (no open {@link #busy()}
   * handle, no touch), the daemon stops with the reason in its log. Polls at a tenth of the timeout
   * (between 10 ms and 1 s): the clock is a volatile read, so the watch costs nothing measurable.
   */
  void watchIdle(java.time.Duration timeout) {
    long limit = timeout.toNanos();
    long period = Math.max(10_000_000L, Math.min(1_000_000_000L, limit / 10));
    Thread t = new Thread(() -> {
      while (!stopping.get()) {
        // Busy first, then the clock: a handle closed between the two reads has already moved the
        // clock, so the idle time is never one measured before the last connection closed.
        boolean busyNow = busyCount.get() > 0 || !isReady(); // warming up is not idle
        long idleFor = System.nanoTime() - lastActivityNanos;
        if (!busyNow && idleFor >= limit) {
          String why = "idle for " + java.time.Duration.ofNanos(idleFor).toMillis() + " ms (idle timeout " + timeout
              + ", no open connection or request)";
          stop(DeathRecordCodec.Cause.IDLE_TIMEOUT, why + ": shutting down", why);
          return;
        }
        java.util.concurrent.locks.LockSupport.parkNanos(busyNow ? period : Math.min(period,
            Math.max(1, limit - idleFor)));
      }
    }, "fastbind-idle");
    t.setDaemon(true);
    t.start();
  }

  @Override
  public HelloReply hello() {
    Progress p = progress;
    return new HelloReply(service, version, pid, instanceId, p.ready() ? DaemonState.READY : DaemonState.WARMING,
        p.percent(), p.phase(), compatibility);
  }

  /** The compatibility key the broker started this daemon for (canonical), or "". */
  String compatibility() {
    return compatibility;
  }

  /**
   * {@code STATUS} extras: {@code busy} (open {@link #busy()} handles) and {@code idle-ms} (0 while
   * busy): what a broker reads to retire the idlest of several side-by-side daemons.
   */
  @Override
  public java.util.Map<String, String> statusFields() {
    int open = busyCount.get();
    long idle = open > 0 ? 0 : java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastActivityNanos);
    return java.util.Map.of("busy", Integer.toString(open), "idle-ms", Long.toString(idle));
  }

  /** What a {@code HANDOVER} does once accepted: offer the listener at the rendezvous, then exit. */
  interface HandoverAction {
    void run(java.nio.file.Path rendezvous) throws java.io.IOException;
  }

  private volatile HandoverAction handover;
  private final java.util.concurrent.atomic.AtomicBoolean handoverStarted = new java.util.concurrent.atomic.AtomicBoolean();

  /** Enables {@code HANDOVER}: set by the bootstrap once the listener is one that can be handed over. */
  void allowHandover(HandoverAction action) {
    handover = action;
  }

  @Override
  public Optional<String> handover(java.nio.file.Path rendezvous) {
    HandoverAction action = handover;
    if (action == null) {
      return Optional.of("this daemon's listener cannot be handed over (it is not a socket file bound or"
          + " adopted through the JDK); stop and start it instead");
    }
    if (!rendezvous.isAbsolute()) {
      return Optional.of("the rendezvous path must be absolute");
    }
    if (!handoverStarted.compareAndSet(false, true)) {
      return Optional.of("a hand-over is already under way");
    }
    Thread t = new Thread(() -> {
      try {
        action.run(rendezvous);
      } catch (java.io.IOException | RuntimeException e) {
        handoverStarted.set(false);
        System.err.println("fastbind: " + service + ": could not hand the listener over at " + rendezvous + ": "
            + e.getMessage() + "; still serving");
      }
    }, "fastbind-handover");
    t.setDaemon(true);
    t.start();
    return Optional.empty();
  }

  @Override
  public void shutdown() {
    stopping.set(true); // the idle watch has nothing more to do
    ending(DeathRecordCodec.Cause.SHUTDOWN_REQUEST, "a control SHUTDOWN (a broker's stop or replace)", 0);
    // Exiting runs the shutdown hook, which runs the actions and removes our files.
    exit.run();
  }

  /** How this daemon ends once asked to: the JVM exits (a daemon process), or {@link InProcess} stops it. */
  private volatile Runnable exit = () -> Runtime.getRuntime().exit(0);

  /** Replaces the JVM exit with {@code action}: a backend run inside another program must not end it. */
  void exitBy(Runnable action) {
    exit = java.util.Objects.requireNonNull(action, "action");
  }
}
