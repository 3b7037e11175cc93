package dev.fastbind.conformance.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.conformance.BackendUnderTest;
import dev.fastbind.conformance.VerificationBudgets;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * One rule's run: its scratch directory, the backend and budgets it checks, and everything it opened
 * or started, which {@link #cleanUp()} closes, stops and kills afterwards.
 *
 * <p>The backend and the budgets are read through suppliers when a rule asks for them, not when the
 * fixture is made, so a bad budget override fails the rule that uses it (and only that rule).
 * Daemons may be started from several threads at once (rule 306); listeners only from the test's.
 */
public final class Fixture {

  private final Path scratch;
  private final Supplier<BackendUnderTest> backend;
  private final Supplier<VerificationBudgets> declaredBudgets;
  private final List<ProcessHandle> spawned = new ArrayList<>();
  private final List<IpcListener> openListeners = new ArrayList<>();
  private final List<ServiceDefinition> started = new ArrayList<>();

  /**
   * A fixture in {@code scratch} (a fresh directory of the test's own) for the backend and budgets
   * the suppliers give; environment overrides are applied to the budgets on every read.
   */
  public Fixture(Path scratch, Supplier<BackendUnderTest> backend, Supplier<VerificationBudgets> declaredBudgets) {
    this.scratch = Objects.requireNonNull(scratch, "scratch");
    this.backend = Objects.requireNonNull(backend, "backend");
    this.declaredBudgets = Objects.requireNonNull(declaredBudgets, "declaredBudgets");
  }

  /** The backend under test. */
  public BackendUnderTest backend() {
    return backend.get();
  }

  /** The budgets in force: the declared ones with the environment's overrides on top. */
  public VerificationBudgets budgets() {
    return declaredBudgets.get().withOverrides(System.getenv());
  }

  /** The backend class's simple name, for messages. */
  public String backendName() {
    return backend().backendClass().getSimpleName();
  }

  /** The test's scratch directory. */
  public Path scratch() {
    return scratch;
  }

  /** A fresh instance of the backend class, through its no-argument constructor (rule 107). */
  public BrokeredBackend newBackend() throws Exception {
    Class<? extends BrokeredBackend> type = backend().backendClass();
    Constructor<? extends BrokeredBackend> constructor;
    try {
      constructor = type.getDeclaredConstructor();
    } catch (NoSuchMethodException e) {
      throw new AssertionError(type.getName() + " has no no-argument constructor; see rule 107", e);
    }
    constructor.setAccessible(true);
    return constructor.newInstance();
  }

  /** Registers {@code listener} (may be {@code null}) to be closed after the test; returns it. */
  public IpcListener track(IpcListener listener) {
    if (listener != null) {
      openListeners.add(listener);
    }
    return listener;
  }

  /**
   * Registers a process this test started, to be killed (with its descendants) after it. The handle
   * is taken now, while the process runs: it names that process by pid and start time, so a pid
   * reused after the process exited is never signalled.
   */
  public void trackProcess(long pid) {
    ProcessHandle.of(pid).ifPresent(h -> {
      synchronized (spawned) {
        spawned.add(h);
      }
    });
  }

  /** A socket-file endpoint {@code NAME.sock} in the scratch directory. */
  public Endpoint endpoint(String name) throws BindException.InvalidEndpoint {
    return Endpoint.unixPath(scratch.resolve(name + ".sock"));
  }

  /** The test's owner-only runtime directory, created on first use. */
  public Path runtimeDirectory() throws IOException {
    Path runtime = scratch.resolve("rt");
    if (!Files.isDirectory(runtime)) {
      Files.createDirectory(runtime, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
    return runtime;
  }

  /** The backend's service in the test's runtime directory, with {@code probeBudget}. */
  public ServiceDefinition definition(Duration probeBudget) throws IOException {
    return builder(probeBudget).build();
  }

  private ServiceDefinition.Builder builder(Duration probeBudget) throws IOException {
    BackendUnderTest b = backend();
    return ServiceDefinition.builder(b.service())
        .javaMain(b.daemonMain().getName())
        .javaOptions(b.javaOptions().toArray(String[]::new))
        .runtimeDirectory(runtimeDirectory())
        .probeBudget(probeBudget);
  }

  /**
   * The backend's service in the test's runtime directory, with {@code probeBudget}, and with the
   * listener hand-off: the broker binds the endpoint and hands the listening socket to the daemon.
   */
  public ServiceDefinition handoffDefinition(Duration probeBudget) throws IOException {
    return builder(probeBudget).listenerHandoff(true).build();
  }

  /** {@code Broker.replace} with a broker of its own; the new daemon is stopped and killed after the test. */
  public DaemonInfo replace(ServiceDefinition def) throws IOException {
    synchronized (started) {
      if (!started.contains(def)) {
        started.add(def);
      }
    }
    DaemonInfo info = Broker.create().replace(def);
    trackProcess(info.pid());
    return info;
  }

  /**
   * Waits, within the process deadline, until a daemon {@link #ensureRunning} returned as
   * {@code BOUND} serves; the {@code DaemonStartException} says why it never will.
   */
  public DaemonInfo awaitServing(DaemonInfo info) throws IOException {
    return Broker.create().awaitServing(info, budgets().processDeadline());
  }

  /** {@code ensureRunning} with a broker of its own; the daemon is stopped and killed after the test. */
  public DaemonInfo ensureRunning(ServiceDefinition def) throws IOException {
    synchronized (started) {
      if (!started.contains(def)) {
        started.add(def);
      }
    }
    DaemonInfo info = Broker.create().ensureRunning(def);
    trackProcess(info.pid());
    return info;
  }

  /** The result of a launcher thread's {@code ensureRunning}, waited for until {@code deadline} (nanoTime). */
  public static DaemonInfo awaitLauncher(Future<DaemonInfo> f, long deadline) throws Exception {
    try {
      return f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      throw new AssertionError("a launcher's ensureRunning did not return in time", e);
    } catch (ExecutionException e) {
      throw new AssertionError("a launcher's ensureRunning failed: " + e.getCause(), e.getCause());
    }
  }

  /**
   * Closes listeners, stops every daemon this test started and kills whatever is left. Every step
   * runs even when an earlier one fails (a daemon must never outlive the test in someone's CI); the
   * first failure is rethrown at the end with the others suppressed.
   */
  public void cleanUp() throws Exception {
    Exception first = null;
    Duration deadline = VerificationBudgets.defaults().processDeadline();
    try {
      deadline = budgets().processDeadline();
    } catch (RuntimeException badOverride) {
      // the test itself already failed on it; clean up with the default deadline
    }
    for (IpcListener l : openListeners) {
      try {
        l.close();
      } catch (Exception e) {
        first = collect(first, e);
      }
    }
    for (ServiceDefinition def : started) {
      try {
        Broker.create().stop(def, Duration.ZERO);
      } catch (Exception e) {
        first = collect(first, e);
      }
    }
    for (ProcessHandle process : spawned) {
      try {
        Processes.killTree(process, deadline);
      } catch (Exception e) {
        first = collect(first, e);
      }
    }
    if (first != null) {
      throw first;
    }
  }

  private static Exception collect(Exception first, Exception next) {
    if (first == null) {
      return next;
    }
    first.addSuppressed(next);
    return first;
  }
}
