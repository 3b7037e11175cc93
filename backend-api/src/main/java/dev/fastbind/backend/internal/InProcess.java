package dev.fastbind.backend.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A backend served inside this JVM: the bootstrap's contract ({@code bind}, then {@code serve} with a
 * {@link ServeState} as its context, a control endpoint answering {@code HELLO}, {@code STATUS} and
 * {@code SHUTDOWN} from that state) without what belongs to a daemon process. It never exits the JVM
 * (an asked-for end stops it instead), installs no shutdown hook or signal handler, leaves stdout and
 * stderr alone and writes no lockfile: nothing outside its own directory learns of it.
 *
 * <p>{@code bind} runs on the caller's thread, so a bind failure is the caller's exception;
 * {@code serve} runs on a daemon thread of its own. The end, asked for ({@link #stop}, a control
 * {@code SHUTDOWN}, {@code requestShutdown}) or not ({@code serve} threw or returned), runs the
 * shutdown actions, closes both endpoints and deletes the directory, once.
 */
public final class InProcess {

  /** How the backend ended: the cause and detail its death record would carry, and what serve threw. */
  public record Ended(DeathRecordCodec.Cause cause, String detail, Optional<Throwable> thrown, long endedAtMillis) {}

  private final String service;
  private final Path directory;
  private final ServeState state;
  private final IpcListener listener;
  private final IpcListener control;
  private final ControlServer controlServer;
  private final Thread serveThread;
  private final AtomicBoolean ending = new AtomicBoolean();
  private final CountDownLatch ended = new CountDownLatch(1);
  private volatile Ended end;
  private volatile Throwable thrown;

  private InProcess(String service, Path directory, ServeState state, IpcListener listener, IpcListener control,
      BrokeredBackend backend) {
    this.service = service;
    this.directory = directory;
    this.state = state;
    this.listener = listener;
    this.control = control;
    this.controlServer = ControlServer.start(control, state);
    state.exitBy(() -> end(null));
    this.serveThread = new Thread(() -> serve(backend), "fastbind-in-process-" + service);
    serveThread.setDaemon(true);
  }

  /**
   * Binds {@code backend} in {@code directory} (which the caller created, owner-only, for this backend
   * alone) and starts {@code serve} on a daemon thread.
   *
   * @throws BindException if the backend's {@code bind} or the control endpoint's failed; nothing runs then
   */
  public static InProcess start(String service, String version, BrokeredBackend backend, Path directory,
      List<String> arguments) throws BindException {
    Objects.requireNonNull(backend, "backend");
    ServiceLayout layout = ServiceLayout.of(service, directory);
    IpcListener listener;
    try {
      listener = backend.bind(layout.endpoint());
    } catch (RuntimeException e) {
      throw new BindException.Other(layout.endpoint().toString(), backend.getClass().getName() + ".bind failed: " + e,
          e);
    }
    if (listener == null) {
      throw new BindException.Other(layout.endpoint().toString(), backend.getClass().getName() + ".bind returned null",
          null);
    }
    IpcListener control;
    try {
      control = IpcListener.bind(layout.controlEndpoint());
    } catch (BindException e) {
      Listeners.closeQuietly(listener);
      throw e;
    }
    ServeState state = new ServeState(service, version, ProcessIdentity.currentPid(), LockfileRecord.newInstanceId(),
        arguments);
    InProcess running = new InProcess(service, directory, state, listener, control, backend);
    running.serveThread.start();
    return running;
  }

  private void serve(BrokeredBackend backend) {
    try {
      Never never = backend.serve(listener, state);
      state.ending(DeathRecordCodec.Cause.SERVE_RETURNED, backend.getClass().getName() + ".serve returned"
          + (never == null ? "" : " a value") + "; serve must never return", -1);
    } catch (Throwable t) {
      if (!ending.get()) {
        thrown = t;
        StackTraceElement[] st = t.getStackTrace();
        state.ending(DeathRecordCodec.Cause.SERVE_THREW, "serve threw " + t + (st.length == 0 ? "" : " at " + st[0]),
            -1);
      }
    }
    end(null);
  }

  /**
   * Ends the backend once: runs the shutdown actions, closes its listener (so a blocked
   * {@code accept} fails), interrupts {@code serve}'s thread, closes the control endpoint and deletes
   * the directory. Called from any thread; later calls do nothing.
   */
  private void end(String why) {
    if (!ending.compareAndSet(false, true)) {
      return;
    }
    if (why != null) {
      state.ending(DeathRecordCodec.Cause.SHUTDOWN_REQUEST, why, 0);
    }
    ServeState.Ending e = state.ending().orElse(new ServeState.Ending(DeathRecordCodec.Cause.SHUTDOWN_REQUEST,
        "stopped", 0));
    try {
      state.runShutdownActions(); // first, as the bootstrap does: a request loop drains while its listener is open
      Listeners.closeQuietly(listener);
      if (Thread.currentThread() != serveThread) {
        serveThread.interrupt();
      }
      controlServer.close();
      Listeners.closeQuietly(control);
      deleteDirectory();
    } finally {
      end = new Ended(e.cause(), e.detail(), Optional.ofNullable(thrown), System.currentTimeMillis());
      ended.countDown();
    }
  }

  private void deleteDirectory() {
    try (var files = Files.list(directory)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Files.deleteIfExists(f);
      }
      Files.deleteIfExists(directory);
    } catch (IOException ex) {
      System.err.println("fastbind: " + service + ": could not remove the in-process directory " + directory + ": "
          + ex);
    }
  }

  /**
   * Stops the backend (see the class documentation) and waits, up to {@code grace}, for its
   * {@code serve} thread to end.
   *
   * @return true when that thread ended within {@code grace}
   */
  public boolean stop(Duration grace) throws InterruptedException {
    end("stopped by its broker");
    ended.await();
    serveThread.join(Math.max(1, grace.toMillis()));
    return !serveThread.isAlive();
  }

  /** Waits up to {@code timeout} for the backend to have ended; true when it has. */
  public boolean awaitEnd(Duration timeout) throws InterruptedException {
    return ended.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** How the backend ended; empty while it serves. */
  public Optional<Ended> ended() {
    return Optional.ofNullable(end);
  }

  /** Whether it still serves: started, and neither stopped nor ended by itself. */
  public boolean serving() {
    return !ending.get();
  }

  /** What {@code HELLO} on its control endpoint answers. */
  public HelloReply hello() {
    return state.hello();
  }

  /** The endpoint the backend bound. */
  public Endpoint endpoint() {
    return listener.endpoint();
  }

  /** Its control endpoint. */
  public Endpoint controlEndpoint() {
    return control.endpoint();
  }

  /** The instance id its context reports. */
  public String instanceId() {
    return state.instanceId();
  }

  /** The directory it runs in, removed when it ends. */
  public Path directory() {
    return directory;
  }

  /** The thread {@code serve} runs on. */
  public Thread serveThread() {
    return serveThread;
  }
}
