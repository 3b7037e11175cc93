package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.Channel;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The steps behind {@link Daemon.Builder#run}: configuration, bind or adopt, control endpoint,
 * lockfile, readiness, serve. Returns the process exit status instead of exiting: on every failure,
 * and when {@code serve} returns, it is the public entry point ({@link Daemon.Builder#run}) that ends
 * the JVM with that status. The one other place that ends it is a control {@code SHUTDOWN}:
 * {@code ServeState.shutdown()} calls {@code Runtime.exit(0)} on the control server's shutdown
 * thread, and the shutdown hook registered here then runs the shutdown actions and removes the files.
 * (SIGTERM ends the JVM by itself, through the same hook.)
 */
public final class Bootstrap {

  private static final int SD_LISTEN_FDS_START = 3;

  private Bootstrap() {}

  /** Resolved settings; see the table on {@link Daemon}. */
  record Settings(String service, Path runtimeDir, Endpoint endpoint, Endpoint controlEndpoint, Path lockfile,
      Optional<Path> notifySocket, List<String> backendArguments) {}

  /** Runs the daemon and returns its exit status; only returns when it fails or {@code serve} returns. */
  public static int run(String service, String version, BrokeredBackend backend, List<String> args,
      Map<String, String> env) {
    return run(service, version, backend, args, env, null);
  }

  /**
   * {@link #run(String, String, BrokeredBackend, List, Map)} with an idle timeout (null for none):
   * the daemon stops once nothing kept it busy for that long (see {@link ServeState#watchIdle}).
   */
  public static int run(String service, String version, BrokeredBackend backend, List<String> args,
      Map<String, String> env, java.time.Duration idleTimeout) {
    return run(service, version, backend, args, env, idleTimeout, DaemonMetrics.NONE);
  }

  /**
   * {@link #run(String, String, BrokeredBackend, List, Map, java.time.Duration)} recording the
   * daemon's meters into {@code metrics} ({@link DaemonMetrics#NONE} for none): warm-up timed from
   * here, rejected peers of both endpoints, the end counted in the shutdown hook.
   */
  public static int run(String service, String version, BrokeredBackend backend, List<String> args,
      Map<String, String> env, java.time.Duration idleTimeout, DaemonMetrics metrics) {
    long startedNanos = System.nanoTime();
    if (handoffFor(env).isPresent()) {
      Handoff.prepareInBackground(); // junixsocket's load beside the checks below, not after them
    }
    PrintStream err = System.err;
    String prefix = "fastbind: " + service + ": ";
    long pid = ProcessIdentity.currentPid();
    String notifyText = env.get(Env.NOTIFY_SOCKET);
    Optional<Path> notify = notifyText == null || notifyText.isEmpty() ? Optional.empty() : Optional.of(Path.of(notifyText));

    Settings settings;
    try {
      settings = resolve(service, args, env, notify);
    } catch (IllegalArgumentException | BindException.InvalidEndpoint e) {
      return fail(err, prefix, e.getMessage(), Daemon.EXIT_USAGE, notify, pid, null);
    }
    // A private worker watches its owner from the start: an owner that dies while it binds or warms
    // must end it too (OwnerWatch).
    long owner = OwnerWatch.ownerFor(env);
    if (owner == OwnerWatch.ORPHANED) {
      return fail(err, prefix, "its owner, pid " + env.get(Env.OWNER).trim() + " (" + Env.OWNER
          + "), is gone already: a private worker does not outlive its owner", Daemon.EXIT_USAGE, notify, pid, null);
    }
    OwnerWatch ownerWatch = owner > 0 ? OwnerWatch.start(owner, service) : null;
    try {
      RuntimeDirectory.ensureOwnerOnly(settings.runtimeDir());
    } catch (IOException e) {
      return fail(err, prefix, e.getMessage(), Daemon.EXIT_CANNOT_CREATE, notify, pid, settings);
    }
    Optional<String> missing = missingOutsideDirectory(settings);
    if (missing.isPresent()) {
      return fail(err, prefix, missing.get(), Daemon.EXIT_USAGE, notify, pid, settings);
    }
    try {
      Path lockDir = settings.lockfile().getParent();
      if (lockDir != null && !lockDir.equals(settings.runtimeDir())) {
        RuntimeDirectory.ensureOwnerOnly(lockDir); // exists (checked above): verified, never created
      }
    } catch (IOException e) {
      return fail(err, prefix, e.getMessage(), Daemon.EXIT_CANNOT_CREATE, notify, pid, settings);
    }

    IpcListener listener = null;
    Optional<Path> handoff = handoffFor(env);
    long handoffDeadline = 0;
    boolean mayHandOver = true;
    if (handoff.isPresent()) {
      // The broker bound the endpoint and offers it: take it, or fail closed. Binding a socket of our
      // own beside a hand-off that went wrong would serve a different socket than the one launchers
      // are already connected to.
      handoffDeadline = System.nanoTime() + handoffPatienceNanos(env);
      try {
        Handoff.IpcListenerHandle taken = Handoff.take(handoff.get(), settings.endpoint(), handoffDeadline);
        listener = taken.listener();
        mayHandOver = taken.jdkChannel();
      } catch (IOException | RuntimeException | LinkageError e) {
        return fail(err, prefix, "cannot take the listener handed off at " + handoff.get() + ": " + e.getMessage()
            + "; not binding a socket of its own", Daemon.EXIT_BIND_FAILED, notify, pid, settings);
      }
    } else {
      try {
        listener = inherited(env, pid).orElse(null);
      } catch (IOException | RuntimeException e) {
        return fail(err, prefix, "cannot use the inherited listener: " + e.getMessage(), Daemon.EXIT_USAGE, notify,
            pid, settings);
      }
    }
    try {
      if (listener == null) {
        listener = backend.bind(settings.endpoint());
        if (listener == null) {
          throw new BindException.Other(settings.endpoint().toString(),
              backend.getClass().getName() + ".bind returned null", null);
        }
      }
    } catch (BindException e) {
      return fail(err, prefix, e.getMessage(), Daemon.EXIT_BIND_FAILED, notify, pid, settings);
    } catch (RuntimeException e) {
      return fail(err, prefix, "cannot bind " + settings.endpoint() + ": " + backend.getClass().getName()
          + ".bind failed: " + e, Daemon.EXIT_BIND_FAILED, notify, pid, settings);
    }

    String chosen = env.get(Env.INSTANCE_ID);
    String instanceId = handoff.isPresent() && isInstanceId(chosen) ? chosen : LockfileRecord.newInstanceId();
    String compatibility = env.get(Env.COMPATIBILITY);
    ServeState state = new ServeState(service, version, pid, instanceId, settings.backendArguments(),
        compatibility == null || compatibility.length() > dev.fastbind.backend.internal.wire.Compatibility.MAX_CHARS
            ? "" : compatibility, metrics, startedNanos);
    if (ownerWatch != null) {
      ownerWatch.attach(state);
    }
    IpcListener control;
    try {
      control = bindControl(settings.controlEndpoint(), handoff.isPresent(), handoffDeadline);
    } catch (BindException e) {
      Listeners.closeQuietly(listener);
      return fail(err, prefix, "cannot bind the control endpoint: " + e.getMessage(), Daemon.EXIT_BIND_FAILED,
          notify, pid, settings);
    }
    ControlServer controlServer = ControlServer.start(control, state);

    LockfileRecord record = new LockfileRecord(service, pid,
        ProcessIdentity.startTime(pid).orElse("unknown"), ProcessIdentity.bootId(),
        listener.endpoint(), control.endpoint(), version, instanceId, state.compatibility());
    Cleanup cleanup = new Cleanup(prefix, state, controlServer, control, listener, settings, instanceId, pid);
    try {
      Lockfiles.write(settings.lockfile(), record);
      cleanup.lockfileWritten();
    } catch (IOException | RuntimeException e) {
      String message = "cannot write the lockfile " + settings.lockfile() + ": " + e.getMessage()
          + "; not serving unseen";
      state.ending(DeathRecordCodec.Cause.STARTUP_FAILED, message, Daemon.EXIT_CANNOT_CREATE);
      cleanup.run(); // records the end
      return fail(err, prefix, message, Daemon.EXIT_CANNOT_CREATE, notify, pid, null);
    }
    Runtime.getRuntime().addShutdownHook(new Thread(cleanup, "fastbind-shutdown"));
    if (mayHandOver && listener instanceof JdkUnixListener) {
      state.allowHandover(rendezvous -> {
        Handoff.offer(rendezvous, settings.endpoint(), System.nanoTime() + HANDOVER_PATIENCE_NANOS);
        state.ending(DeathRecordCodec.Cause.HANDED_OVER, "handed its listener over to a successor", 0);
        cleanup.handedOver();
      });
    }

    if (notify.isPresent()) {
      try {
        Readiness.send(notify.get(), Readiness.Message.ready(pid, instanceId));
      } catch (IOException e) {
        err.println(prefix + "could not announce readiness on " + notify.get() + " (" + e.getMessage()
            + "); serving anyway");
      }
    }

    // After readiness, off the way to it: the daemon's meters are registered from here (see
    // MicrometerDaemonMetrics), and the log's bound (see LogWatch).
    metrics.watchRejections("main", listener);
    metrics.watchRejections("control", control);
    Optional<long[]> logLimit = LogWatch.parse(env.get(Env.LOG_LIMIT));
    if (logLimit.isPresent()) {
      Optional<Path> log = LogWatch.stdoutFile();
      if (log.isPresent()) {
        LogWatch.start(log.get(), logLimit.get()[0], (int) logLimit.get()[1]);
      }
    }
    if (idleTimeout != null) {
      state.watchIdle(idleTimeout);
    }
    try {
      Never never = backend.serve(listener, state);
      String line = backend.getClass().getName() + ".serve returned" + (never == null ? "" : " a value")
          + "; serve must never return";
      state.ending(DeathRecordCodec.Cause.SERVE_RETURNED, line, Daemon.EXIT_SERVE_FAILED);
      err.println(prefix + line + ": exiting");
    } catch (Throwable t) {
      if (cleanup.started()) {
        // SHUTDOWN or SIGTERM closed the listener under serve; the exit already under way is the outcome.
        return 0;
      }
      state.ending(DeathRecordCodec.Cause.SERVE_THREW, "serve threw " + t + where(t), Daemon.EXIT_SERVE_FAILED);
      err.println(prefix + "serve failed: " + t);
      t.printStackTrace(err);
    }
    return Daemon.EXIT_SERVE_FAILED;
  }

  /** Where {@code t} was thrown: its first stack frame, or "". */
  private static String where(Throwable t) {
    StackTraceElement[] st = t.getStackTrace();
    return st.length == 0 ? "" : " at " + st[0];
  }

  /**
   * Writes the death record of this process (see {@link DeathRecords}); never throws, and says in the
   * log when it could not.
   */
  static void recordDeath(Path lockfile, Path runtimeDir, String service, long pid, String instanceId,
      ServeState.Ending e) {
    try {
      Path log = LogWatch.stdoutFile().orElse(null);
      String tail = log == null ? "" : DeathRecords.tail(log);
      Optional<Path> hsErr = DeathRecords.hsErr(pid, Path.of("").toAbsolutePath(), runtimeDir);
      long now = System.currentTimeMillis();
      long uptime = ProcessHandle.current().info().startInstant().map(s -> now - s.toEpochMilli()).orElse(-1L);
      DeathRecords.write(lockfile, new DeathRecordCodec.Entry(service, pid, instanceId, e.cause(), e.detail(),
          e.exitStatus(), now, uptime, DeathRecords.outOfMemory(tail, hsErr),
          hsErr.map(Path::toString), "daemon", tail));
    } catch (IOException | RuntimeException | LinkageError ex) {
      // A LinkageError: out of descriptors, a class of the record could not even be loaded. The
      // broker records the end as it observes it.
      System.err.println("fastbind: " + service + ": could not write the death record next to " + lockfile + ": " + ex);
    }
  }

  /** How long a daemon being replaced waits for the broker to take its listener. */
  private static final long HANDOVER_PATIENCE_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
  private static final long DEFAULT_HANDOFF_PATIENCE_MILLIS = 10_000;

  /**
   * The hand-off rendezvous this process is to take its listener from: {@link Env#HANDOFF}, when
   * {@link Env#HANDOFF_PARENT} names this process's parent. A daemon's own children inherit the
   * variables but not the parent, so they bind (or are given) their own sockets.
   */
  static Optional<Path> handoffFor(Map<String, String> env) {
    String path = env.get(Env.HANDOFF);
    String parent = env.get(Env.HANDOFF_PARENT);
    if (isBlank(path) || isBlank(parent)) {
      return Optional.empty();
    }
    long ppid = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(-1L);
    return parent.trim().equals(Long.toString(ppid)) ? Optional.of(Path.of(path)) : Optional.empty();
  }

  private static long handoffPatienceNanos(Map<String, String> env) {
    String text = env.get(Env.HANDOFF_PATIENCE_MS);
    long millis = DEFAULT_HANDOFF_PATIENCE_MILLIS;
    if (!isBlank(text)) {
      try {
        millis = Math.max(1, Long.parseLong(text.trim()));
      } catch (NumberFormatException e) {
        // the default; the broker always writes a number
      }
    }
    return java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(millis);
  }

  private static boolean isInstanceId(String s) {
    if (s == null || s.length() != 32) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
        return false;
      }
    }
    return true;
  }

  /**
   * Binds the control endpoint. After a hand-off from a daemon being replaced, that daemon may still
   * be releasing the control socket (it does so right after giving up its listener): an
   * {@code AlreadyBound} is retried until the hand-off deadline.
   */
  private static IpcListener bindControl(Endpoint control, boolean handedOff, long deadline) throws BindException {
    while (true) {
      try {
        return IpcListener.bind(control);
      } catch (BindException.AlreadyBound e) {
        if (!handedOff || System.nanoTime() - deadline > 0) {
          throw e;
        }
        java.util.concurrent.locks.LockSupport.parkNanos(java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(5));
      }
    }
  }

  static Settings resolve(String service, List<String> args, Map<String, String> env, Optional<Path> notify)
      throws BindException.InvalidEndpoint {
    String expected = env.get(Env.SERVICE);
    if (expected != null && !expected.isEmpty() && !expected.equals(service)) {
      throw new IllegalArgumentException("the broker started this daemon as service '" + expected
          + "' but it is service '" + service + "': fix the broker's service definition");
    }
    String runtimeDir = env.get(Env.RUNTIME_DIR);
    String endpoint = env.get(Env.ENDPOINT);
    String control = env.get(Env.CONTROL_ENDPOINT);
    String lockfile = env.get(Env.LOCKFILE);
    List<String> rest = new ArrayList<>();
    for (String arg : args) {
      if (arg.startsWith("--runtime-dir=")) {
        runtimeDir = value(arg);
      } else if (arg.startsWith("--endpoint=")) {
        endpoint = value(arg);
      } else if (arg.startsWith("--control-endpoint=")) {
        control = value(arg);
      } else if (arg.startsWith("--lockfile=")) {
        lockfile = value(arg);
      } else {
        rest.add(arg);
      }
    }
    Path dir = isBlank(runtimeDir) ? RuntimeDirectory.defaultFor(Env.APP) : Path.of(runtimeDir);
    if (!dir.isAbsolute()) {
      throw new IllegalArgumentException("the runtime directory must be an absolute path, got '" + dir + "'");
    }
    ServiceLayout layout = isBlank(endpoint) || isBlank(control) || isBlank(lockfile) ? ServiceLayout.of(service, dir)
        : null;
    Endpoint main = isBlank(endpoint) ? layout.endpoint() : Endpoint.parse(endpoint);
    Endpoint ctl = isBlank(control) ? layout.controlEndpoint() : Endpoint.parse(control);
    if (ctl.equals(main)) {
      throw new IllegalArgumentException("the control endpoint must differ from the main endpoint " + main);
    }
    Path lock = isBlank(lockfile) ? layout.lockfile() : Path.of(lockfile);
    if (!lock.isAbsolute()) {
      throw new IllegalArgumentException("the lockfile path must be absolute, got '" + lock + "'");
    }
    return new Settings(service, dir, main, ctl, lock, notify, List.copyOf(rest));
  }

  /**
   * A one-line usage error if a setting names a file in a directory, other than the runtime
   * directory, that does not exist. The daemon creates only its runtime directory: a lockfile or
   * socket path elsewhere (a typo, a directory not yet mounted) must never make it create
   * directories, least of all from the file-system root down.
   */
  static Optional<String> missingOutsideDirectory(Settings settings) {
    // No strings are built on the common path (everything in the runtime directory): it runs on the
    // way to readiness.
    Path lockDir = settings.lockfile().getParent();
    if (isMissingOutside(lockDir, settings)) {
      return Optional.of(missingDirectory(lockDir, "the lockfile " + settings.lockfile(), settings));
    }
    Optional<Path> main = settings.endpoint().path();
    if (main.isPresent() && isMissingOutside(main.get().getParent(), settings)) {
      return Optional.of(missingDirectory(main.get().getParent(), "the endpoint " + settings.endpoint(), settings));
    }
    Optional<Path> ctl = settings.controlEndpoint().path();
    if (ctl.isPresent() && isMissingOutside(ctl.get().getParent(), settings)) {
      return Optional.of(missingDirectory(ctl.get().getParent(), "the control endpoint " + settings.controlEndpoint(),
          settings));
    }
    return Optional.empty();
  }

  private static boolean isMissingOutside(Path dir, Settings settings) {
    return dir != null && !dir.equals(settings.runtimeDir()) && !Files.isDirectory(dir);
  }

  private static String missingDirectory(Path dir, String what, Settings settings) {
    return "the directory " + dir + " of " + what + " does not exist, and the daemon creates no directory but"
        + " its runtime directory " + settings.runtimeDir() + ": create it (mkdir -m 700 " + dir
        + ") or fix the setting";
  }

  /**
   * An inherited listener, if this process was given one: systemd's protocol ({@code LISTEN_PID}
   * naming this process, {@code LISTEN_FDS} at least 1, the socket at fd 3) or a listening socket on
   * fd 0 (inetd's "wait" style, which is also how the broker hands a bound listener to a child).
   */
  static Optional<IpcListener> inherited(Map<String, String> env, long pid) throws IOException {
    String listenPid = env.get("LISTEN_PID");
    String listenFds = env.get("LISTEN_FDS");
    if (listenPid != null && listenFds != null) {
      if (!listenPid.trim().equals(Long.toString(pid))) {
        // meant for another process (e.g. our parent); not ours to take
        return fd0();
      }
      int count;
      try {
        count = Integer.parseInt(listenFds.trim());
      } catch (NumberFormatException e) {
        throw new IOException("LISTEN_FDS is not a number: '" + listenFds + "'");
      }
      if (count < 1) {
        return fd0();
      }
      if (count > 1) {
        System.err.println("fastbind: systemd passed " + count + " sockets; using the first (fd 3)");
      }
      Path fd3 = Path.of("/proc/self/fd/" + SD_LISTEN_FDS_START);
      if (mayBeSocket(fd3)) {
        Optional<IpcListener> asJdk = Handoff.adoptSystemdAsJdk(SD_LISTEN_FDS_START);
        if (asJdk.isPresent()) {
          return asJdk;
        }
        if (!mayBeSocket(fd3)) {
          // Moved to fd 0 but not taken by the JDK there: adopt it from fd 0.
          return Optional.of(Junix.adoptDescriptor(0));
        }
      }
      // Not a socket (described plainly), an abstract name, or junixsocket's dup2 out of reach.
      return Optional.of(Junix.adoptDescriptor(SD_LISTEN_FDS_START));
    }
    return fd0();
  }

  private static Optional<IpcListener> fd0() throws IOException {
    if (!mayBeSocket(Path.of("/proc/self/fd/0"))) {
      return Optional.empty();
    }
    Channel inherited = System.inheritedChannel();
    if (inherited instanceof ServerSocketChannel server) {
      return Optional.of(Listeners.adoptJdk(server));
    }
    return Optional.empty();
  }

  /**
   * False only when procfs shows that {@code fd} (a {@code /proc/self/fd} entry) is not a socket: then
   * {@link System#inheritedChannel()} would return null, and asking it would set up the JDK's
   * inherited-channel and inet-address machinery for nothing on a daemon's way to readiness.
   */
  static boolean mayBeSocket(Path fd) {
    if (!Files.isDirectory(fd.getParent())) {
      return true; // no procfs: let the JDK look
    }
    try {
      int mode = (Integer) Files.getAttribute(fd, "unix:mode");
      return (mode & 0170000) == 0140000;
    } catch (java.nio.file.NoSuchFileException closed) {
      return false; // no descriptor 0 at all
    } catch (IOException | RuntimeException e) {
      return true;
    }
  }

  private static String value(String arg) {
    return arg.substring(arg.indexOf('=') + 1);
  }

  private static boolean isBlank(String s) {
    return s == null || s.isBlank();
  }

  private static int fail(PrintStream err, String prefix, String message, int status, Optional<Path> notify,
      long pid, Settings settings) {
    err.println(prefix + message);
    Path recordDir = settings == null ? null : settings.lockfile().getParent();
    if (recordDir != null && Files.isDirectory(recordDir, LinkOption.NOFOLLOW_LINKS)) {
      recordDeath(settings.lockfile(), settings.runtimeDir(), settings.service(), pid, "",
          new ServeState.Ending(DeathRecordCodec.Cause.STARTUP_FAILED, message, status));
    }
    if (notify.isPresent()) {
      try {
        Readiness.send(notify.get(), Readiness.Message.failed(pid, message));
      } catch (IOException e) {
        // the broker will see the exit status and our stderr; nothing more to do
      }
    }
    return status;
  }


  /**
   * Runs shutdown actions, removes our lockfile, stops the control endpoint, closes listeners. Once.
   *
   * <p>The lockfile goes first, so no broker finds a lockfile naming a daemon whose endpoints are
   * already closed. If the process is out of descriptors (the lockfile cannot even be opened to check
   * whose it is), the endpoints are closed first to free some, then the lockfile is removed. A
   * lockfile that is left always gets one line saying why.
   */
  private static final class Cleanup implements Runnable {
    private final String prefix;
    private final ServeState state;
    private final ControlServer controlServer;
    private final IpcListener control;
    private final IpcListener listener;
    private final Path lockfile;
    private final Settings settings;
    private final long pid;
    private final String instanceId;
    private boolean done;
    private volatile boolean lockfileWritten;

    Cleanup(String prefix, ServeState state, ControlServer controlServer, IpcListener control, IpcListener listener,
        Settings settings, String instanceId, long pid) {
      this.settings = settings;
      this.pid = pid;
      this.prefix = prefix;
      this.state = state;
      this.controlServer = controlServer;
      this.control = control;
      this.listener = listener;
      this.lockfile = settings.lockfile();
      this.instanceId = instanceId;
    }

    /** The lockfile now names this instance and is ours to remove. */
    void lockfileWritten() {
      lockfileWritten = true;
    }

    synchronized boolean started() {
      return done;
    }

    private volatile boolean handedOver;

    /**
     * The listening socket now belongs to a successor as well: the exit that follows stops accepting
     * at once (keeping the socket file, which the successor serves), releases the control endpoint and
     * the lockfile for it, and only then runs the shutdown actions, so that the backend answers what it
     * already accepted while the successor takes every new connection.
     */
    void handedOver() {
      handedOver = true;
      Runtime.getRuntime().exit(0);
    }

    @Override
    public synchronized void run() {
      if (done) {
        return;
      }
      done = true;
      state.countExit();
      if (handedOver) {
        if (listener instanceof JdkUnixListener jdk) {
          jdk.keepSocketFile();
        }
        Listeners.closeQuietly(listener);
        controlServer.close();
        Listeners.closeQuietly(control);
        if (lockfileWritten) {
          removeLockfile();
        }
        state.runShutdownActions();
        recordDeath();
        return;
      }
      state.runShutdownActions();
      if (lockfileWritten) {
        if (outOfDescriptors()) {
          closeEndpoints();
        }
        recordDeath();
        removeLockfile();
      } else {
        recordDeath();
      }
      closeEndpoints();
    }

    /** Writes this end's death record, before the lockfile goes (so no broker records it as vanished). */
    private void recordDeath() {
      ServeState.Ending e = state.ending().orElse(new ServeState.Ending(DeathRecordCodec.Cause.SIGTERM,
          "the JVM was asked to exit from outside the SDK: SIGTERM (or SIGINT or SIGHUP, or System.exit in the"
              + " backend)", -1));
      Bootstrap.recordDeath(lockfile, settings.runtimeDir(), settings.service(), pid, instanceId, e);
    }

    private void closeEndpoints() {
      controlServer.close();
      Listeners.closeQuietly(control);
      Listeners.closeQuietly(listener);
    }

    /** Whether no descriptor is free: opening the lockfile itself fails with EMFILE or ENFILE. */
    private boolean outOfDescriptors() {
      try {
        java.nio.channels.FileChannel.open(lockfile).close();
        return false;
      } catch (IOException e) {
        String m = e.getMessage();
        return m != null && m.contains("Too many open files");
      }
    }

    private void removeLockfile() {
      if (Lockfiles.deleteIfOwnedBy(lockfile, instanceId) || !Files.exists(lockfile, LinkOption.NOFOLLOW_LINKS)) {
        return;
      }
      String why;
      try {
        Optional<LockfileRecord> now = Lockfiles.read(lockfile);
        why = now.isEmpty() ? "it vanished or is empty"
            : now.get().instanceId().equals(instanceId) ? "it names this instance but could not be removed"
            : "it now names another instance (pid " + now.get().pid() + ")";
      } catch (IOException | RuntimeException e) {
        why = "it could not be read back: " + e.getMessage();
      }
      System.err.println(prefix + "left the lockfile " + lockfile + " in place: " + why);
    }
  }
}
