package dev.fastbind.broker;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.loop.Codec;
import dev.fastbind.broker.internal.ColdStart;
import dev.fastbind.broker.internal.Deaths;
import dev.fastbind.broker.internal.Metrics;
import dev.fastbind.broker.internal.MicrometerMetrics;
import dev.fastbind.broker.internal.ProcessTree;
import dev.fastbind.broker.internal.SharedArchive;
import dev.fastbind.broker.internal.Spawner;
import dev.fastbind.broker.internal.WorkerDirectories;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Private workers: N daemons of one {@link ServiceDefinition} that belong to this launcher. They run
 * the same {@code bind}/{@code serve} contract, ready loop and {@link DaemonClient} as a shared
 * daemon, but they are nobody else's: they live in a directory of this pool's own (not in the
 * per-user registry, so {@link Broker#list()} and other launchers never see them), and they live
 * exactly as long as their owner.
 *
 * <pre>{@code
 * try (WorkerPool pool = WorkerPool.builder(definition).size(4).start()) {
 *   byte[] answer = pool.call(request);
 * }
 * }</pre>
 *
 * <p><b>Owned.</b> Each worker's standard input is a pipe from this JVM that it never writes to.
 * When the pipe reaches end of file, because the pool closed or because this JVM ended in any way
 * ({@code kill -9} included: the kernel closes the pipe with the process), the worker's bootstrap
 * kills the processes the worker started and exits (death record {@code OWNER_GONE}). So a pool needs
 * workers built on the SDK's bootstrap ({@code Daemon.builder(...).run(args)}); a {@code command}
 * that is not must end itself at end of file on its standard input.
 *
 * <p><b>Calls</b> go to the worker with the fewest calls in flight (round-robin among equals). A
 * worker that dies during a call fails that call with a {@link DaemonDiedException} that names how it
 * ended; the pool restarts it at once, so the next call is served.
 *
 * <p><b>Supervision.</b> Failures are restarted within the {@link Supervision} budget; past it the
 * pool gives up: it stops its workers, tells the monitor ({@link WorkerEvent.GaveUp}) and fails every
 * call with a {@link RestartLimitException}. The monitor hears every start and death with its
 * {@linkplain WorkerEvent.Reason reason}. With a {@link MeterRegistry}, each event is counted as
 * {@code fastbind.pool.events} (tags {@code pool}, {@code event}: started, died, restarted, gave-up;
 * {@code reason} for died).
 *
 * <p>Thread-safe. {@link #close()} stops the workers (end of file, then {@code SIGKILL} after the
 * grace period) and removes the pool's directory.
 */
public final class WorkerPool implements Closeable {

  /** How long {@link #close()} lets workers exit on their own before it kills them. */
  public static final Duration CLOSE_GRACE = Duration.ofSeconds(5);
  /** How long a worker may take to start, by default. */
  public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(30);

  private final ServiceDefinition definition;
  private final String name;
  private final Supervision supervision;
  private final Consumer<WorkerEvent> monitor;
  private final Duration startTimeout;
  private final Metrics metrics;
  private final ColdStart starts;
  private final Path directory;
  private final SharedArchive.Plan sharing;
  private final Slot[] slots;
  private final ExecutorService supervisor;
  /** Runs restarts, so that the supervisor goes on recording the death meanwhile. */
  private final ExecutorService restarter;
  private final AtomicInteger next = new AtomicInteger();
  private final Set<Process> killedOnPurpose = ConcurrentHashMap.newKeySet();
  private final Set<Process> reported = ConcurrentHashMap.newKeySet();
  private final Object budget = new Object();
  private final ArrayDeque<Long> restarts = new ArrayDeque<>();
  private final ArrayDeque<TimedDeath> recentDeaths = new ArrayDeque<>();
  private volatile RestartLimitException gaveUp;
  private volatile boolean closed;
  /** While {@link #startAll} runs: a first start that fails fails the pool's start, and is not restarted. */
  private volatile boolean startingAll;
  private volatile Thread supervisorThread;

  private record TimedDeath(long atNanos, WorkerEvent.Died death) {}

  private WorkerPool(Builder b, Path directory) throws BindException.InvalidEndpoint {
    this.definition = b.definition;
    this.name = b.definition.name();
    this.supervision = b.supervision;
    this.monitor = b.monitor;
    this.startTimeout = b.startTimeout;
    this.metrics = b.registry == null ? Metrics.NONE : new MicrometerMetrics(b.registry);
    this.starts = new ColdStart(metrics);
    this.directory = directory;
    SharedArchive.Plan shared = SharedArchive.plan(definition, Broker.runtimeDirectory(definition));
    // Workers map the shared daemon's class-data archive when one is ready, and never write one: N
    // workers exiting together must not race to rewrite a file the shared daemon maps.
    this.sharing = shared.readsArchive() ? readOnly(shared) : SharedArchive.Plan.NONE;
    this.slots = new Slot[b.size];
    for (int i = 0; i < slots.length; i++) {
      slots[i] = new Slot(i, ServiceLayout.of(name, directory.resolve(Integer.toString(i))));
    }
    for (Slot s : slots) {
      try {
        dev.fastbind.backend.internal.RuntimeDirectory.ensureOwnerOnly(s.layout.directory());
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
    this.restarter = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "fastbind-pool-restart-" + name);
      t.setDaemon(true);
      return t;
    });
    this.supervisor = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "fastbind-pool-" + name);
      t.setDaemon(true);
      supervisorThread = t;
      return t;
    });
  }

  /** {@code plan} without the options that would have a worker rewrite the archive. */
  private static SharedArchive.Plan readOnly(SharedArchive.Plan plan) {
    List<String> options = new ArrayList<>();
    for (String o : plan.options()) {
      if (!o.equals("-XX:+AutoCreateSharedArchive") && !o.startsWith("-XX:ArchiveClassesAtExit")) {
        options.add(o);
      }
    }
    return new SharedArchive.Plan(List.copyOf(options), plan.archive(), true);
  }

  /**
   * A builder of a pool of {@code definition}'s workers.
   *
   * @param definition the workers' service; a {@code javaMain} or {@code command} daemon built on the
   *     SDK's bootstrap. Its runtime directory only locates the pool's own directory, under
   *     {@code pools/}; its probe budget and listener hand-off do not apply.
   * @return a builder: one worker, {@link Supervision#DEFAULT}, no monitor
   */
  public static Builder builder(ServiceDefinition definition) {
    Objects.requireNonNull(definition, "definition");
    if (definition.inProcessBackend().isPresent()) {
      throw new IllegalArgumentException("service '" + definition.name() + "': a worker pool runs its workers as"
          + " processes, and this definition runs its backend in-process: build the pool's definition without"
          + " inProcess(...)");
    }
    return new Builder(definition);
  }

  /** Configures a {@link WorkerPool}. */
  public static final class Builder {
    private final ServiceDefinition definition;
    private int size = 1;
    private Supervision supervision = Supervision.DEFAULT;
    private Consumer<WorkerEvent> monitor = e -> {};
    private Duration startTimeout = DEFAULT_START_TIMEOUT;
    private MeterRegistry registry;

    private Builder(ServiceDefinition definition) {
      this.definition = definition;
    }

    /**
     * How many workers.
     *
     * @param workers 1 to 64
     * @return this builder
     */
    public Builder size(int workers) {
      if (workers < 1 || workers > 64) {
        throw new IllegalArgumentException("a worker pool has 1 to 64 workers, got " + workers);
      }
      this.size = workers;
      return this;
    }

    /**
     * How failures are restarted.
     *
     * @param supervision the restart strategy and budget
     * @return this builder
     */
    public Builder supervision(Supervision supervision) {
      this.supervision = Objects.requireNonNull(supervision, "supervision");
      return this;
    }

    /**
     * Who hears each start and death.
     *
     * @param monitor called on the pool's supervisor thread, in order
     * @return this builder
     */
    public Builder monitor(Consumer<WorkerEvent> monitor) {
      this.monitor = Objects.requireNonNull(monitor, "monitor");
      return this;
    }

    /**
     * How long one worker may take from spawn to serving.
     *
     * @param timeout positive
     * @return this builder
     */
    public Builder startTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "timeout");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("the start timeout must be positive, got " + timeout);
      }
      this.startTimeout = timeout;
      return this;
    }

    /**
     * Counts supervision events ({@code fastbind.pool.events}) and worker start timings
     * ({@code fastbind.broker.spawn}, {@code fastbind.broker.readiness}) in {@code registry}.
     *
     * @param registry the registry
     * @return this builder
     */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /**
     * Creates the pool's directory and starts every worker, in parallel; returns when all serve.
     *
     * @return the pool
     * @throws DaemonStartException if a worker did not start (the others are stopped again)
     * @throws IOException if the pool's directory cannot be made, or a worker's process could not be
     *     started at all (its working directory or command missing)
     */
    public WorkerPool start() throws IOException {
      Path dir = WorkerDirectories.create(Broker.runtimeDirectory(definition));
      WorkerPool pool;
      try {
        pool = new WorkerPool(this, dir);
      } catch (BindException.InvalidEndpoint e) {
        WorkerDirectories.remove(dir);
        throw new IOException("worker pool '" + definition.name() + "': " + e.getMessage()
            + "; use a shorter runtime directory (ServiceDefinition.Builder.runtimeDirectory)", e);
      } catch (java.io.UncheckedIOException e) {
        WorkerDirectories.remove(dir);
        throw e.getCause();
      }
      pool.startAll();
      return pool;
    }
  }

  private void startAll() throws IOException {
    startingAll = true;
    try {
      startEach();
    } finally {
      startingAll = false;
    }
  }

  private void startEach() throws IOException {
    List<Thread> threads = new ArrayList<>();
    IOException[] failures = new IOException[slots.length];
    for (Slot s : slots) {
      Thread t = new Thread(() -> {
        try {
          s.ensureRunning();
        } catch (IOException e) {
          failures[s.index] = e;
        }
      }, "fastbind-pool-start-" + name + "-" + s.index);
      t.setDaemon(true);
      t.start();
      threads.add(t);
    }
    try {
      for (Thread t : threads) {
        t.join();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      close();
      throw new java.io.InterruptedIOException("interrupted while starting worker pool '" + name + "'");
    }
    for (IOException f : failures) {
      if (f != null) {
        close();
        throw f;
      }
    }
  }

  // ---- calls --------------------------------------------------------------------------------

  /**
   * Sends {@code request} to a worker, within {@link DaemonClient#DEFAULT_DEADLINE}.
   *
   * @param request the request payload
   * @return the answer
   * @throws RestartLimitException if the pool gave up
   * @throws DaemonCallException as {@link DaemonClient#call(byte[], Duration)}; a worker that died
   *     during the call gives a {@link DaemonDiedException} naming how it ended
   * @throws IOException for other failures
   */
  public byte[] call(byte[] request) throws IOException {
    return call(request, DaemonClient.DEFAULT_DEADLINE);
  }

  /**
   * Sends {@code request} to the worker with the fewest calls in flight.
   *
   * @param request the request payload
   * @param deadline how long the call may take; positive
   * @return the answer
   * @throws RestartLimitException if the pool gave up
   * @throws DaemonCallException as {@link DaemonClient#call(byte[], Duration)}
   * @throws IOException for other failures
   */
  public byte[] call(byte[] request, Duration deadline) throws IOException {
    Slot s = pick();
    s.inFlight.incrementAndGet();
    try {
      return s.client.call(request, deadline);
    } finally {
      s.inFlight.decrementAndGet();
    }
  }

  /**
   * Sends {@code request} encoded with {@code requests}, decodes the answer with {@code responses}.
   *
   * @param request the request
   * @param requests encodes it
   * @param responses decodes the answer
   * @param deadline how long the call may take
   * @param <Q> the request type
   * @param <R> the answer type
   * @return the decoded answer
   * @throws IOException as {@link #call(byte[], Duration)}, or the codecs'
   */
  public <Q, R> R call(Q request, Codec<Q> requests, Codec<R> responses, Duration deadline) throws IOException {
    return responses.decode(call(requests.encode(request), deadline));
  }

  private Slot pick() throws IOException {
    checkUsable();
    int start = Math.floorMod(next.getAndIncrement(), slots.length);
    Slot best = null;
    int bestLoad = Integer.MAX_VALUE;
    for (int k = 0; k < slots.length; k++) {
      Slot s = slots[(start + k) % slots.length];
      boolean serving;
      synchronized (s) {
        serving = s.serving();
      }
      int load = s.inFlight.get() + (serving ? 0 : 1_000); // a worker being restarted only when all are
      if (load < bestLoad) {
        best = s;
        bestLoad = load;
      }
    }
    return best;
  }

  private void checkUsable() throws IOException {
    RestartLimitException failed = gaveUp;
    if (failed != null) {
      throw new RestartLimitException(failed.getMessage(), name, failed.lastDeaths());
    }
    if (closed) {
      throw new CallCancelledException("worker pool '" + name + "' is closed", name, -1, false, false);
    }
  }

  /**
   * The workers that serve now.
   *
   * @return one entry per serving worker, by index
   */
  public List<DaemonInfo> workers() {
    List<DaemonInfo> out = new ArrayList<>();
    for (Slot s : slots) {
      synchronized (s) {
        if (s.serving()) {
          out.add(s.info);
        }
      }
    }
    return List.copyOf(out);
  }

  /**
   * Why the pool gave up, if it did.
   *
   * @return the failure every call now throws, or empty
   */
  public Optional<RestartLimitException> failure() {
    return Optional.ofNullable(gaveUp);
  }

  /**
   * The pool's own directory (under the runtime directory's {@code pools/}): the workers' logs and
   * death records are there, one directory per worker index, until {@link #close()}.
   *
   * @return the directory
   */
  public Path directory() {
    return directory;
  }

  /**
   * Stops every worker (end of file on its pipe; {@code SIGKILL} after {@link #CLOSE_GRACE}), reports
   * their deaths as {@link WorkerEvent.Reason#KILLED}, and removes the pool's directory. Calls under
   * way fail; later calls throw {@link CallCancelledException}. Idempotent.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    restarter.shutdown(); // a restart under way sees the pool closed; its process is killed below
    List<Slot> stopped = stopAll(CLOSE_GRACE);
    for (Slot s : slots) {
      s.client.close();
    }
    // Report the deaths (each once: their exit callbacks may come too), then stop the supervisor.
    for (Slot s : stopped) {
      ColdStart.Worker w;
      synchronized (s) {
        w = s.lastWorker;
      }
      try {
        supervisor.execute(() -> exited(s, w));
      } catch (java.util.concurrent.RejectedExecutionException e) {
        // closing concurrently: that close reports them
      }
    }
    supervisor.shutdown();
    if (Thread.currentThread() != supervisorThread) { // a monitor may close the pool: it cannot wait for itself
      try {
        supervisor.awaitTermination(CLOSE_GRACE.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    awaitStarts(System.nanoTime() + CLOSE_GRACE.toNanos());
    WorkerDirectories.remove(directory);
  }

  /**
   * Waits, until {@code deadline}, for starts under way to end: {@link #stopAll} killed their
   * processes, so they fail at once; the directory is removed only after.
   */
  private void awaitStarts(long deadline) {
    for (Slot s : slots) {
      synchronized (s) {
        while (s.starting) {
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            return;
          }
          try {
            TimeUnit.NANOSECONDS.timedWait(s, left);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          }
        }
      }
    }
  }

  /** Ends every worker on purpose: closes its pipe, waits up to {@code grace}, then kills its tree. */
  private List<Slot> stopAll(Duration grace) {
    List<Process> live = new ArrayList<>();
    List<Slot> stopped = new ArrayList<>();
    for (Slot s : slots) {
      synchronized (s) {
        if (s.process != null) {
          killedOnPurpose.add(s.process);
          live.add(s.process);
          stopped.add(s);
        }
        if (s.spawning != null) {
          // A start under way: its process goes too, and the start fails.
          killedOnPurpose.add(s.spawning);
          live.add(s.spawning);
        }
        s.notifyAll();
      }
    }
    for (Process p : live) {
      try {
        p.getOutputStream().close(); // end of file: the worker exits through its shutdown
      } catch (IOException e) {
        // already closed: it is going anyway
      }
    }
    long until = System.nanoTime() + grace.toNanos();
    for (Process p : live) {
      try {
        long left = until - System.nanoTime();
        if (left <= 0 || !p.waitFor(left, TimeUnit.NANOSECONDS)) {
          ProcessTree.killTree(p.toHandle(), Spawner.detaches(), System.nanoTime() + ColdStart.KILL_MARGIN.toNanos());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        ProcessTree.killTree(p.toHandle(), Spawner.detaches(), System.nanoTime() + ColdStart.KILL_MARGIN.toNanos());
      }
    }
    return stopped;
  }

  @Override
  public String toString() {
    return "WorkerPool[" + name + ", " + slots.length + " workers, " + directory + "]";
  }

  // ---- supervision --------------------------------------------------------------------------

  private void emit(WorkerEvent e) {
    try {
      monitor.accept(e);
    } catch (RuntimeException ex) {
      System.err.println("fastbind: worker pool '" + name + "': the monitor threw on " + e + ": " + ex);
    }
  }

  /** On the supervisor thread: {@code worker} of {@code slot} exited. */
  private void exited(Slot slot, ColdStart.Worker worker) {
    Process p = worker.process();
    if (closed && !reported.add(p)) {
      return; // close() reports the deaths of the workers it stops, and their exit callbacks may come too
    }
    boolean onPurpose = killedOnPurpose.remove(p) || closed;
    synchronized (slot) {
      if (slot.process == p) {
        slot.process = null;
        slot.info = null;
      }
      slot.notifyAll();
    }
    int status = p.exitValue();
    OptionalInt signal = status > 128 && status < 128 + 65 ? OptionalInt.of(status - 128) : OptionalInt.empty();
    WorkerEvent.Reason reason = onPurpose ? WorkerEvent.Reason.KILLED
        : status == 0 ? WorkerEvent.Reason.NORMAL : WorkerEvent.Reason.FAILURE;
    // The restart first, on a thread of its own: the death record (the log's tail, a fatal-error
    // file looked for, a file written) is read and written while the new worker starts.
    long now = System.nanoTime();
    boolean restarting = reason == WorkerEvent.Reason.FAILURE && admitRestart(now);
    if (restarting) {
      restartAsync(slot, "restart after worker " + slot.index + " (pid " + p.pid() + ") "
          + (signal.isPresent() ? "was killed by signal " + signal.getAsInt() : "exited with status " + status));
    }
    Optional<DeathRecord> record = slot.deathOf(worker);
    synchronized (slot) {
      slot.lastDead = worker;
    }
    WorkerEvent.Died died = new WorkerEvent.Died(name, slot.index, p.pid(), reason,
        signal.isPresent() ? OptionalInt.empty() : OptionalInt.of(status), signal,
        record.map(DeathRecord::summary).orElse(""), record);
    metrics.worker(name, "died", reason.name().toLowerCase(java.util.Locale.ROOT));
    emit(died);
    if (reason == WorkerEvent.Reason.FAILURE) {
      List<WorkerEvent.Died> inWindow = noteFailure(now, died);
      if (!restarting && !closed && gaveUp == null && !startingAll) {
        giveUp(inWindow);
      }
    }
  }

  /**
   * Whether the budget admits one more restart at {@code now} (and records it); false while the pool
   * closes, has given up, or starts (a first start that fails fails the pool's start).
   */
  private boolean admitRestart(long now) {
    if (closed || gaveUp != null || startingAll) {
      return false;
    }
    long window = supervision.period().toNanos();
    synchronized (budget) {
      while (!restarts.isEmpty() && now - restarts.peekFirst() > window) {
        restarts.pollFirst();
      }
      if (restarts.size() < supervision.intensity()) {
        restarts.addLast(now);
        return true;
      }
      return false;
    }
  }

  /** Adds {@code died} to the deaths of the window; returns them, oldest first. */
  private List<WorkerEvent.Died> noteFailure(long now, WorkerEvent.Died died) {
    long window = supervision.period().toNanos();
    List<WorkerEvent.Died> inWindow = new ArrayList<>();
    synchronized (budget) {
      while (!recentDeaths.isEmpty() && now - recentDeaths.peekFirst().atNanos() > window) {
        recentDeaths.pollFirst();
      }
      recentDeaths.addLast(new TimedDeath(now, died));
      for (TimedDeath d : recentDeaths) {
        inWindow.add(d.death());
      }
    }
    return inWindow;
  }

  /** Restarts {@code slot} (and, one-for-all, every other worker) on the restart thread. */
  private void restartAsync(Slot slot, String detail) {
    try {
      restarter.execute(() -> restartFor(slot, detail));
    } catch (java.util.concurrent.RejectedExecutionException poolClosed) {
      // closed meanwhile: nothing to restart
    }
  }

  private void restartFor(Slot slot, String detail) {
    List<Slot> restart = new ArrayList<>();
    if (supervision.strategy() == Supervision.Strategy.ONE_FOR_ALL) {
      for (Slot other : slots) {
        if (other != slot) {
          stopOnPurpose(other);
        }
        restart.add(other);
      }
    } else {
      restart.add(slot);
    }
    for (Slot s : restart) {
      metrics.worker(name, "restarted", "");
      try {
        s.restart(detail);
      } catch (IOException e) {
        // reported as the slot's death (NO_SUCH_PROCESS or FAILURE) by restart; callers see it too
      }
    }
  }

  /** On the supervisor thread: a start of {@code slot} failed; restarts within the budget, or gives up. */
  private void failed(Slot slot, WorkerEvent.Died died) {
    if (closed || gaveUp != null || startingAll) {
      return;
    }
    long now = System.nanoTime();
    boolean allowed = admitRestart(now);
    List<WorkerEvent.Died> inWindow = noteFailure(now, died);
    if (allowed) {
      restartAsync(slot, "restart after " + died.summary());
    } else {
      giveUp(inWindow);
    }
  }

  private void stopOnPurpose(Slot s) {
    Process p;
    synchronized (s) {
      p = s.process;
      if (p == null) {
        return;
      }
      killedOnPurpose.add(p);
    }
    ProcessTree.killTree(p.toHandle(), Spawner.detaches(), System.nanoTime() + ColdStart.KILL_MARGIN.toNanos() * 4);
    try {
      p.waitFor(1, TimeUnit.SECONDS); // reaped, so that isAlive() says so to the restart that follows
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void giveUp(List<WorkerEvent.Died> deaths) {
    StringBuilder m = new StringBuilder(256).append("worker pool '").append(name).append("' gave up: ")
        .append(deaths.size()).append(" failure(s) within ").append(supervision.period().toMillis())
        .append(" ms exceed its restart intensity of ").append(supervision.intensity()).append(" (")
        .append(supervision.strategy()).append("); last deaths: ");
    for (int i = 0; i < deaths.size(); i++) {
      m.append(i == 0 ? "" : "; ").append(deaths.get(i).summary());
    }
    m.append("; the workers' logs are under ").append(directory)
        .append("; fix what the deaths name and create a new pool, or allow more restarts"
            + " (WorkerPool.Builder.supervision)");
    RestartLimitException failure = new RestartLimitException(m.toString(), name, deaths);
    gaveUp = failure;
    metrics.worker(name, "gave-up", "");
    for (Slot s : slots) {
      stopOnPurpose(s);
      synchronized (s) {
        s.notifyAll();
      }
    }
    emit(new WorkerEvent.GaveUp(name, failure.getMessage(), deaths));
  }

  /** One worker index: its directory, its current process, its client. */
  private final class Slot implements DaemonClient.Target {
    final int index;
    final ServiceLayout layout;
    final DaemonClient client;
    final AtomicInteger inFlight = new AtomicInteger();
    // guarded by this
    Process process;
    DaemonInfo info;
    int generation;
    boolean starting;
    ColdStart.Worker lastWorker;
    ColdStart.Worker lastDead;
    Process spawning;
    long deathPid = -1;
    Optional<DeathRecord> death = Optional.empty();

    Slot(int index, ServiceLayout layout) {
      this.index = index;
      this.layout = layout;
      this.client = DaemonClient.create(this, definition, DaemonClient.DEFAULT_DEADLINE);
    }

    /** Guarded by this. */
    boolean serving() {
      return process != null && info != null && process.isAlive();
    }

    @Override
    public DaemonInfo ensureRunning() throws IOException {
      long until = System.nanoTime() + startTimeout.toNanos() + ColdStart.KILL_MARGIN.toNanos();
      synchronized (this) {
        while (true) {
          checkUsable();
          if (serving()) {
            return info;
          }
          if (!starting) {
            starting = true;
            break;
          }
          long left = until - System.nanoTime();
          if (left <= 0) {
            throw new CallTimeoutException("worker " + index + " of pool '" + name + "' was still being started after "
                + startTimeout.toMillis() + " ms", name, -1, false, startTimeout);
          }
          try {
            TimeUnit.NANOSECONDS.timedWait(this, left);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CallCancelledException("interrupted while worker " + index + " of pool '" + name
                + "' was started", name, -1, false, true);
          }
        }
      }
      return startClaimed(generation == 0 ? SpawnReason.ABSENT : SpawnReason.DEAD_PID,
          generation == 0 ? "worker " + index + " of a private pool" : "worker " + index + " started again");
    }

    /** A restart by the supervisor; waits for a start under way instead of starting a second. */
    void restart(String detail) throws IOException {
      synchronized (this) {
        if (starting || closed || gaveUp != null) {
          return;
        }
        if (serving() && !killedOnPurpose.contains(process)) {
          return; // started again already (by a call)
        }
        starting = true;
      }
      startClaimed(SpawnReason.DEAD_PID, detail);
    }

    /** The process of the start under way, for {@link #stopAll}; killed at once if the pool closed meanwhile. */
    private void spawned(Process p) {
      boolean late;
      synchronized (this) {
        spawning = p;
        late = closed;
      }
      if (late) {
        killedOnPurpose.add(p);
        ProcessTree.killTree(p.toHandle(), Spawner.detaches(), System.nanoTime() + ColdStart.KILL_MARGIN.toNanos());
      }
    }

    /** Starts a worker; the caller set {@link #starting}. */
    private DaemonInfo startClaimed(SpawnReason reason, String detail) throws IOException {
      long begin = System.nanoTime();
      ColdStart.Worker w;
      try {
        w = starts.startWorker(definition, layout, sharing, reason, detail, System.nanoTime() + startTimeout.toNanos(),
            this::spawned);
      } catch (IOException | RuntimeException e) {
        synchronized (this) {
          starting = false;
          spawning = null;
          notifyAll();
        }
        startFailed(e);
        throw e;
      }
      int gen;
      synchronized (this) {
        starting = false;
        spawning = null;
        gen = generation++;
        if (closed || gaveUp != null) {
          killedOnPurpose.add(w.process());
        } else {
          process = w.process();
          info = w.info();
          lastWorker = w;
        }
        notifyAll();
      }
      WorkerEvent.Started started = new WorkerEvent.Started(name, index, w.process().pid(), gen,
          Duration.ofNanos(System.nanoTime() - begin));
      metrics.worker(name, "started", "");
      try {
        // Through the supervisor, before the exit callback is registered: in order, one at a time,
        // and never a death before its start.
        supervisor.execute(() -> emit(started));
      } catch (java.util.concurrent.RejectedExecutionException poolClosed) {
        // closed meanwhile: no more events
      }
      w.process().onExit().thenRun(() -> {
        try {
          supervisor.execute(() -> exited(this, w));
        } catch (java.util.concurrent.RejectedExecutionException poolClosed) {
          // closed: the close reports nothing more
        }
      });
      if (killedOnPurpose.contains(w.process())) {
        ProcessTree.killTree(w.process().toHandle(), Spawner.detaches(),
            System.nanoTime() + ColdStart.KILL_MARGIN.toNanos());
        checkUsable();
      }
      return w.info();
    }

    /** A start that produced no serving worker: a death, and a failure for the budget. */
    private void startFailed(Exception e) {
      WorkerEvent.Died died = new WorkerEvent.Died(name, index, -1,
          e instanceof DaemonStartException ? WorkerEvent.Reason.FAILURE : WorkerEvent.Reason.NO_SUCH_PROCESS,
          OptionalInt.empty(), OptionalInt.empty(), firstLine(e.getMessage()), Optional.empty());
      if (closed) {
        return;
      }
      try {
        supervisor.execute(() -> {
          metrics.worker(name, "died", died.reason().name().toLowerCase(java.util.Locale.ROOT));
          emit(died);
          failed(this, died); // a start that failed uses up the budget as a crash does
        });
      } catch (java.util.concurrent.RejectedExecutionException poolClosed) {
        // closed meanwhile
      }
    }

    /** How {@code w}, which has exited, ended: its record, read or observed once. Empty while it runs. */
    Optional<DeathRecord> deathOf(ColdStart.Worker w) {
      if (w.process().isAlive()) {
        return Optional.empty();
      }
      synchronized (this) {
        if (deathPid != w.process().pid()) {
          death = Deaths.workerEnded(definition, layout, w.process(), w.info().instanceId());
          deathPid = w.process().pid();
        }
        return death;
      }
    }

    @Override
    public ServiceStatus status() {
      synchronized (this) {
        if (serving()) {
          return new ServiceStatus.Running(info, true, 100, Optional.empty());
        }
        return new ServiceStatus.Absent(name, death);
      }
    }

    /**
     * The current worker's end if it has ended (the kernel has reaped it: the JDK is given a moment
     * to see it too), else the end of the last worker that ended before it (a restart may already
     * have replaced the one a broken call was on).
     */
    @Override
    public Optional<DeathRecord> lastDeath() {
      ColdStart.Worker current;
      ColdStart.Worker dead;
      synchronized (this) {
        current = lastWorker;
        dead = lastDead;
      }
      if (current != null) {
        Process p = current.process();
        try {
          if (!p.isAlive() || dev.fastbind.backend.internal.ProcessIdentity.startTime(p.pid()).isEmpty()
              && p.waitFor(1, TimeUnit.SECONDS)) {
            return deathOf(current);
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return dead == null ? Optional.empty() : deathOf(dead);
    }

    @Override
    public Path log() {
      return layout.log();
    }

    @Override
    public String nextCall() {
      if (gaveUp != null) {
        return "the pool has given up (its restart budget is used up): later calls fail with RestartLimitException";
      }
      if (closed) {
        return "the pool is closed";
      }
      return "the pool restarts worker " + index + " within its supervision budget, and the next call is served by a"
          + " worker that runs";
    }
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

}
