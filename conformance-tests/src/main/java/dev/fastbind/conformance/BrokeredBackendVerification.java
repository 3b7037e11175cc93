package dev.fastbind.conformance;

import dev.fastbind.backend.internal.wire.LockfileCodec;
import static org.junit.jupiter.api.Assertions.fail;

import com.tngtech.archunit.core.domain.JavaAccess;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaConstructor;
import com.tngtech.archunit.core.domain.JavaConstructorCall;
import com.tngtech.archunit.core.domain.JavaField;
import com.tngtech.archunit.core.domain.JavaModifier;
import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.DaemonStartException;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.StopResult;
import dev.fastbind.broker.internal.LogFiles;
import dev.fastbind.conformance.internal.BindReachability;
import dev.fastbind.conformance.internal.Descriptors;
import dev.fastbind.conformance.internal.Forbidden;
import dev.fastbind.conformance.internal.Processes;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.AFUNIXSocketChannel;

/**
 * The conformance kit: extend this class in your backend's tests, override {@link #backend()}, and
 * every rule of the fast-bind contract runs as a JUnit Jupiter test.
 *
 * <pre>{@code
 * class CacheBackendConformanceTest extends BrokeredBackendVerification {
 *   @Override
 *   protected BackendUnderTest backend() {
 *     return BackendUnderTest.of(CacheBackend.class, CacheDaemon.class, "cache", "1.4.0");
 *   }
 * }
 * }</pre>
 *
 * <p>Name the subclass {@code *Test} or {@code *Tests}: Maven Surefire runs nothing else by default,
 * and a kit that does not run passes silently.
 *
 * <p><b>The rules</b> are numbered in the module's {@code SPEC.md}; each test method is named after its
 * rule: {@code required_spec1xx_…} are static rules on the backend's bytecode (ArchUnit),
 * {@code required_spec2xx_…} run {@code bind} in this JVM, {@code required_spec3xx_…} spawn the daemon
 * with the real broker. {@code optional_spec…} rules check a capability a backend may decline; a
 * backend that declines cleanly is reported as skipped with its reason. A rule this platform cannot
 * check is reported as skipped with the reason.
 * Each rule's Javadoc ends with what to check when it fails.
 *
 * <p><b>Budgets</b> come from {@link #budgets()} with environment overrides; see
 * {@link VerificationBudgets} for the variables and their precedence.
 *
 * <p><b>Isolation.</b> Every test uses its own owner-only runtime directory, its own broker and its
 * own daemon; whatever it spawned is stopped or killed after it, and every wait has a deadline.
 */
public abstract class BrokeredBackendVerification {

  private static final Set<String> BROKER_BOOKKEEPING = Set.of(".log", ".spawn-lock", ".spawns");

  @TempDir
  Path scratch;

  private final List<Long> spawnedPids = new ArrayList<>();
  private final List<IpcListener> openListeners = new ArrayList<>();
  private final List<ServiceDefinition> started = new ArrayList<>();

  /** Describes the backend under test: its class and how to start it as a daemon. */
  protected abstract BackendUnderTest backend();

  /**
   * The budgets for this backend; environment variables still win over what this returns. Override
   * to start from other values than {@link VerificationBudgets#defaults()}.
   */
  protected VerificationBudgets budgets() {
    return VerificationBudgets.defaults();
  }

  private VerificationBudgets effectiveBudgets() {
    return budgets().withOverrides(System.getenv());
  }

  // ---------------------------------------------------------------------------------------------
  // Static rules: the backend's bytecode.

  /**
   * Rule 101: code reachable from {@code bind} does no file I/O.
   *
   * <p>If this fails, check the call named in the message and move it into {@code serve}, after the
   * endpoint exists: configuration, caches and logs are read there.
   */
  @Test
  public void required_spec101_bindDoesNoFileIo() {
    assertNoFindings(Forbidden.Category.FILE_IO);
  }

  /**
   * Rule 102: code reachable from {@code bind} never sleeps, waits, parks or blocks on another thread.
   *
   * <p>If this fails, check the call named in the message: a retry loop with a sleep, a latch or a
   * future's {@code get}. {@code bind} either binds at once or throws a {@code BindException}.
   */
  @Test
  public void required_spec102_bindNeverSleepsOrWaits() {
    assertNoFindings(Forbidden.Category.SLEEP_OR_WAIT);
  }

  /**
   * Rule 103: code reachable from {@code bind} creates no threads, executors, timers or processes.
   *
   * <p>If this fails, check the call named in the message; start background work in {@code serve}.
   */
  @Test
  public void required_spec103_bindStartsNoThreads() {
    assertNoFindings(Forbidden.Category.THREADS);
  }

  /**
   * Rule 104: code reachable from {@code bind} opens no network connections, does no DNS look-ups
   * and no JDBC.
   *
   * <p>If this fails, check the call named in the message: connect to databases and upstream services
   * in {@code serve}, while the daemon reports {@code WARMING}.
   */
  @Test
  public void required_spec104_bindOpensNoConnections() {
    assertNoFindings(Forbidden.Category.NETWORK);
  }

  /**
   * Rule 105: code reachable from {@code bind} (and the backend's static initialiser) reads or writes
   * no instance field and no non-final static field.
   *
   * <p>If this fails, check the field named in the message: the daemon's state belongs to an object
   * created inside {@code serve}, not to the backend class or to statics.
   */
  @Test
  public void required_spec105_bindTouchesNoState() {
    assertNoFindings(Forbidden.Category.STATE);
  }

  /**
   * Rule 106: the backend class (and its superclasses in the backend's own code) declares no instance
   * fields.
   *
   * <p>If this fails, check the fields named in the message and move them into an object that
   * {@code serve} creates; an inner (non-static) backend class carries its outer instance as a field.
   */
  @Test
  public void required_spec106_backendHasNoInstanceFields() {
    BindReachability analysis = BindReachability.of(backend().backendClass());
    List<String> fields = new ArrayList<>();
    for (JavaClass c = analysis.backend(); c != null && !c.getName().startsWith("java.");
        c = c.getRawSuperclass().orElse(null)) {
      for (JavaField f : c.getFields()) {
        if (!f.getModifiers().contains(JavaModifier.STATIC)) {
          fields.add(f.getFullName());
        }
      }
    }
    if (!fields.isEmpty()) {
      fail(backendName() + " must hold no state, but has instance fields: " + String.join(", ", fields)
          + ". Create the daemon's state inside serve.");
    }
  }

  /**
   * Rule 107: the backend class has a no-argument constructor, and every constructor does nothing but
   * call its superclass's constructor.
   *
   * <p>If this fails, check the constructor named in the message: anything it does runs before
   * {@code bind}, so it delays every waiting launcher. Move it into {@code serve}.
   */
  @Test
  public void required_spec107_backendHasTrivialConstructor() {
    BindReachability analysis = BindReachability.of(backend().backendClass());
    List<String> problems = new ArrayList<>();
    JavaClass backendClass = analysis.backend();
    boolean noArg = backendClass.getConstructors().stream().anyMatch(c -> c.getRawParameterTypes().isEmpty());
    if (!noArg) {
      problems.add("it has no no-argument constructor");
    }
    for (JavaConstructor c : backendClass.getConstructors()) {
      for (JavaAccess<?> access : c.getAccessesFromSelf()) {
        boolean superCall = access instanceof JavaConstructorCall call
            && backendClass.getRawSuperclass().map(s -> s.equals(call.getTargetOwner())).orElse(false);
        if (!superCall) {
          problems.add(c.getFullName() + " calls or touches " + access.getTarget().getFullName()
              + " (" + access.getSourceCodeLocation() + ")");
        }
      }
    }
    if (!problems.isEmpty()) {
      fail(backendName() + " must have a trivial constructor, but " + String.join("; ", problems));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // In-process rules: bind in this JVM.

  /**
   * Rule 201: {@code bind} returns within the bind budget (the fastest of three calls after one warm-up
   * call, so class loading and a noisy neighbour do not count).
   *
   * <p>If this fails, check what {@code bind} computes: hashing, parsing, large allocations or a
   * library call that does I/O the static rules cannot see. {@code bind} should only bind.
   */
  @Test
  public void required_spec201_bindReturnsWithinBudget() throws Exception {
    BrokeredBackend backend = newBackend();
    Duration budget = effectiveBudgets().bind();
    track(backend.bind(endpoint("warm"))).close();
    long fastest = Long.MAX_VALUE;
    for (int i = 0; i < 3; i++) {
      Endpoint endpoint = endpoint("timed" + i);
      long start = System.nanoTime();
      IpcListener listener = backend.bind(endpoint);
      fastest = Math.min(fastest, System.nanoTime() - start);
      track(listener).close();
    }
    if (fastest > budget.toNanos()) {
      fail(backendName() + ".bind took " + TimeUnit.NANOSECONDS.toMillis(fastest)
          + " ms (fastest of 3 calls after a warm-up); the budget is " + budget.toMillis() + " ms");
    }
  }

  /**
   * Rule 202: the listener {@code bind} returns is bound to the requested endpoint, and a connection
   * made there before {@code serve} runs is accepted.
   *
   * <p>If this fails, check that {@code bind} binds exactly the endpoint it is given (not one derived
   * from configuration) and returns a listening socket.
   */
  @Test
  public void required_spec202_endpointAcceptsConnectionBeforeServe() throws Exception {
    Endpoint endpoint = endpoint("main");
    IpcListener listener = track(newBackend().bind(endpoint));
    if (!endpoint.equals(listener.endpoint())) {
      fail(backendName() + ".bind was asked for " + endpoint + " but returned a listener on "
          + listener.endpoint());
    }
    assertAccepts(listener, endpoint, "the endpoint " + endpoint + " returned by bind");
  }

  /**
   * Rule 203: binding an endpoint a live listener holds fails with {@code BindException.AlreadyBound},
   * and the live listener keeps its socket file and keeps accepting.
   *
   * <p>If this fails, check for code that deletes the socket path before binding, or a socket library
   * with {@code SO_REUSEADDR} on (junixsocket's default): either silently steals a live daemon's
   * endpoint. Use {@code IpcListener.bind}, which reclaims only dead socket files.
   */
  @Test
  public void required_spec203_secondBindOnLiveEndpointIsAlreadyBound() throws Exception {
    BrokeredBackend backend = newBackend();
    Endpoint endpoint = endpoint("live");
    IpcListener first = track(backend.bind(endpoint));
    Path path = endpoint.path().orElseThrow();
    Object before = fileKey(path);
    try {
      IpcListener second = track(backend.bind(endpoint));
      fail(backendName() + ".bind on " + endpoint + ", which a live listener holds, returned " + second
          + " instead of throwing BindException.AlreadyBound");
    } catch (BindException.AlreadyBound expected) {
      // what the rule asks for
    } catch (BindException other) {
      fail(backendName() + ".bind on a live endpoint threw " + other.getClass().getSimpleName()
          + " instead of AlreadyBound: " + other.getMessage());
    }
    Object after = fileKey(path);
    if (before == null || !before.equals(after)) {
      fail(backendName() + ".bind replaced the live socket file at " + path
          + " (its inode changed): a second daemon stole the first one's endpoint");
    }
    assertAccepts(first, endpoint, "the first listener after a second bind");
  }

  /**
   * Rule 204: an endpoint that cannot be bound as written (a regular file or a directory at the socket
   * path) fails with {@code BindException.InvalidEndpoint}, and what stands there is left untouched.
   *
   * <p>If this fails, check how {@code bind} reports failures: keep the SDK's taxonomy
   * ({@code InvalidEndpoint}, {@code AlreadyBound}, {@code Io}, {@code Other}) instead of wrapping, and
   * never delete what is not a dead socket.
   */
  @Test
  public void required_spec204_invalidEndpointIsInvalidEndpoint() throws Exception {
    BrokeredBackend backend = newBackend();
    Endpoint fileEndpoint = endpoint("file");
    Path file = fileEndpoint.path().orElseThrow();
    Files.writeString(file, "not a socket");
    expectInvalid(backend, fileEndpoint, "a regular file");
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || !Files.readString(file).equals("not a socket")) {
      fail(backendName() + ".bind changed the regular file standing at " + file);
    }
    Endpoint dirEndpoint = endpoint("dir");
    Files.createDirectory(dirEndpoint.path().orElseThrow());
    expectInvalid(backend, dirEndpoint, "a directory");
  }

  /**
   * Rule 205: a stale socket file (left by a daemon killed with {@code kill -9}, nobody listening) is
   * reclaimed: {@code bind} succeeds and the new listener accepts.
   *
   * <p>If this fails, check that {@code bind} uses {@code IpcListener.bind} (which probes and removes a
   * dead socket file) rather than a bare {@code ServerSocketChannel.bind}.
   */
  @Test
  public void required_spec205_staleSocketFileIsReclaimed() throws Exception {
    Endpoint endpoint = endpoint("stale");
    Path path = endpoint.path().orElseThrow();
    try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(path));
    }
    Assumptions.assumeTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS),
        "this platform removes a socket file when its listener closes, so no stale file can be made");
    IpcListener listener;
    try {
      listener = track(newBackend().bind(endpoint));
    } catch (BindException e) {
      throw new AssertionError(backendName() + ".bind did not reclaim the stale socket file at " + path
          + " (nobody listens there): " + e, e);
    }
    assertAccepts(listener, endpoint, "the listener bound over a stale socket file");
  }

  /**
   * Rule 206: when the endpoint is taken, the daemon exits with {@code Daemon.EXIT_BIND_FAILED}
   * without reaching {@code serve} and leaves no file behind; the live listener is undisturbed.
   *
   * <p>If this fails, check what {@code bind} creates before the failing bind (a second socket, a
   * temporary file) and close or remove it before throwing; and that {@code main} does nothing but
   * call {@code Daemon.builder(…).run(args)}.
   */
  @Test
  public void required_spec206_failedBindLeavesNothingAndNeverServes() throws Exception {
    BackendUnderTest b = backend();
    Path runtime = runtimeDirectory();
    Path path = runtime.resolve(b.service() + ".sock");
    Path logDir = Files.createDirectory(scratch.resolve("logs"));
    Path log = logDir.resolve("daemon.log");
    try (ServerSocketChannel holder = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      holder.bind(UnixDomainSocketAddress.of(path));
      Set<String> before = listNames(runtime);
      Process process = Processes.startJava(b.daemonMain().getName(), b.javaOptions(),
          Map.of("FASTBIND_RUNTIME_DIR", runtime.toString()), log);
      spawnedPids.add(process.pid());
      Optional<Integer> status = Processes.awaitExit(process, effectiveBudgets().processDeadline());
      if (status.isEmpty()) {
        fail("the daemon kept running although its endpoint " + path + " was taken; it should exit with "
            + Daemon.EXIT_BIND_FAILED + ". Output:\n" + LogFiles.tail(log, 0));
      }
      if (status.get() != Daemon.EXIT_BIND_FAILED) {
        fail("the daemon exited with status " + status.get() + " instead of " + Daemon.EXIT_BIND_FAILED
            + " when its endpoint was taken. Output:\n" + LogFiles.tail(log, 0));
      }
      Set<String> leftBehind = new TreeSet<>(listNames(runtime));
      leftBehind.removeAll(before);
      if (!leftBehind.isEmpty()) {
        fail("a daemon whose bind failed left files behind in its runtime directory: " + leftBehind);
      }
      try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
        if (holder.accept() == null) {
          fail("the live listener at " + path + " no longer accepts after the failed daemon exited");
        }
      }
    }
  }

  /**
   * Optional rule 207: given an abstract-namespace endpoint (Linux), {@code bind} either binds it and
   * the listener accepts a connection there, or declines with {@code BindException.InvalidEndpoint}.
   * Supporting abstract names is optional; a backend that declines cleanly is reported as skipped with
   * its reason. Skipped off Linux, where abstract names do not exist.
   *
   * <p>If this fails, check an overridden {@code bind} that calls {@code endpoint.path().orElseThrow()}
   * or otherwise assumes a file path: a launcher configured with {@code abstract:name} then gets a
   * {@code NoSuchElementException} instead of an error it can act on. Delegate to
   * {@code IpcListener.bind}, which supports both kinds, or throw {@code InvalidEndpoint}.
   */
  @Test
  public void optional_spec207_abstractEndpointIsBoundOrDeclinedCleanly() throws Exception {
    String os = System.getProperty("os.name", "");
    Assumptions.assumeTrue(os.toLowerCase(java.util.Locale.ROOT).contains("linux"),
        () -> "abstract Unix-socket names exist only on Linux; this is " + os);
    Endpoint endpoint = Endpoint.abstractName("fastbind-kit-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
    IpcListener listener;
    try {
      listener = track(newBackend().bind(endpoint));
    } catch (BindException.InvalidEndpoint declined) {
      Assumptions.abort(backendName() + " declines abstract endpoints with InvalidEndpoint (allowed): "
          + declined.getMessage());
      return;
    } catch (BindException other) {
      fail(backendName() + ".bind on " + endpoint + " threw " + other.getClass().getSimpleName()
          + " instead of binding it or declining with InvalidEndpoint: " + other.getMessage());
      return;
    } catch (RuntimeException e) {
      throw new AssertionError(backendName() + ".bind on " + endpoint + " threw " + e
          + " instead of binding it or declining with BindException.InvalidEndpoint", e);
    }
    if (!endpoint.equals(listener.endpoint())) {
      fail(backendName() + ".bind was asked for " + endpoint + " but returned a listener on " + listener.endpoint());
    }
    String name = endpoint.abstractName().orElseThrow();
    try (SocketChannel client = AFUNIXSocketChannel.open()) {
      try {
        client.connect(AFUNIXSocketAddress.inAbstractNamespace(name));
      } catch (IOException e) {
        throw new AssertionError("the abstract endpoint " + endpoint + " returned by bind refuses connections: " + e, e);
      }
      acceptWithin(listener, "the abstract endpoint " + endpoint + " returned by bind");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Out-of-process rules: the daemon, spawned by the real broker.

  /**
   * Rule 301: on the first spawn the broker sees the daemon ready within the readiness budget, JVM
   * start included (2 s by default for shared CI; the broker's own default probe budget is 500 ms).
   *
   * <p>If this fails, check what runs before {@code bind}: work in {@code main} or in static
   * initialisers, a heavy class path, JVM options that slow start-up. Everything slow belongs in
   * {@code serve}.
   */
  @Test
  public void required_spec301_readyWithinProbeBudgetOnFirstSpawn() throws Exception {
    Duration budget = effectiveBudgets().readiness();
    ServiceDefinition def = definition(budget);
    try {
      DaemonInfo info = ensureRunning(def);
      if (!info.spawned()) {
        fail("the first ensureRunning in an empty runtime directory reused a daemon instead of spawning one");
      }
    } catch (DaemonStartException e) {
      fail("the daemon was not ready within the " + budget.toMillis() + " ms readiness budget on its first spawn: "
          + e.getMessage());
    }
  }

  /**
   * Rule 302: the lockfile names the daemon's real pid, its endpoint, the service and the declared
   * version.
   *
   * <p>If this fails, check the {@code version(…)} passed to {@code Daemon.builder} against the one
   * declared in {@link BackendUnderTest}, and that {@code main} does not fork or re-exec.
   */
  @Test
  public void required_spec302_lockfileNamesPidEndpointAndVersion() throws Exception {
    BackendUnderTest b = backend();
    ServiceDefinition def = definition(effectiveBudgets().processDeadline());
    DaemonInfo info = ensureRunning(def);
    Path runtime = def.runtimeDirectory().orElseThrow();
    Optional<LockfileRecord> read = Lockfiles.read(runtime.resolve(b.service() + LockfileCodec.FILE_SUFFIX));
    if (read.isEmpty()) {
      fail("no lockfile at " + runtime.resolve(b.service() + LockfileCodec.FILE_SUFFIX) + " while the daemon runs");
    }
    LockfileRecord r = read.get();
    List<String> wrong = new ArrayList<>();
    Endpoint expectedEndpoint = Endpoint.unixPath(runtime.resolve(b.service() + ".sock"));
    if (r.pid() != info.pid() || ProcessHandle.of(r.pid()).map(h -> !h.isAlive()).orElse(true)) {
      wrong.add("pid " + r.pid() + " (the daemon is " + info.pid() + ")");
    }
    if (!r.endpoint().equals(expectedEndpoint)) {
      wrong.add("endpoint " + r.endpoint() + " (expected " + expectedEndpoint + ")");
    }
    if (!r.service().equals(b.service())) {
      wrong.add("service " + r.service() + " (expected " + b.service() + ")");
    }
    if (!r.daemonVersion().equals(b.version())) {
      wrong.add("version " + r.daemonVersion() + " (declared " + b.version() + ")");
    }
    if (!wrong.isEmpty()) {
      fail("the lockfile is wrong: " + String.join("; ", wrong));
    }
  }

  /**
   * Rule 303: {@code HELLO} answers as soon as the broker reports the daemon up, whether {@code serve}
   * is still warming or ready, with the daemon's own identity; and {@code serve} does not return: the
   * daemon is still running after the serve-watch period.
   *
   * <p>If this fails, check that {@code serve} loops (accepting connections) instead of returning or
   * throwing, and that nothing stops the SDK's control thread (a {@code System.exit}, a JVM-wide lock).
   */
  @Test
  public void required_spec303_helloAnswersWhileServingAndServeNeverReturns() throws Exception {
    VerificationBudgets budgets = effectiveBudgets();
    ServiceDefinition def = definition(budgets.processDeadline());
    DaemonInfo info;
    try {
      info = ensureRunning(def);
    } catch (DaemonStartException e) {
      throw new AssertionError("the daemon exited while starting; serve must never return: " + e.getMessage(), e);
    }
    HelloReply hello;
    try {
      hello = ControlClient.hello(info.controlEndpoint(), budgets.processDeadline());
    } catch (IOException e) {
      throw new AssertionError("HELLO on " + info.controlEndpoint() + " failed right after ensureRunning "
          + "(the daemon exited? serve must never return): " + e + "; log:\n"
          + LogFiles.tail(def.runtimeDirectory().orElseThrow().resolve(def.name() + ".log"), 0), e);
    }
    if (hello.pid() != info.pid() || !hello.instanceId().equals(info.instanceId())
        || !hello.service().equals(def.name())
        || !(hello.state() == DaemonState.WARMING || hello.state() == DaemonState.READY)) {
      fail("HELLO answered for another daemon: " + hello + " (expected pid " + info.pid() + ", instance "
          + info.instanceId() + ")");
    }
    if (Processes.awaitGone(info.pid(), budgets.serveWatch())) {
      fail("the daemon exited within " + budgets.serveWatch().toMillis() + " ms of being ready: serve returned "
          + "or threw; log:\n" + LogFiles.tail(def.runtimeDirectory().orElseThrow().resolve(def.name() + ".log"), 0));
    }
  }

  /**
   * Rule 304: {@code Broker.stop} stops the daemon within the grace period (on {@code SHUTDOWN} or
   * {@code SIGTERM}, without needing {@code SIGKILL}) and leaves no process and no file but the
   * broker's own log and lock files and its class-data sharing archive ({@code <service>.<key>.jsa}).
   *
   * <p>If this fails, check the files named in the message: remove what {@code serve} creates in an
   * {@code onShutdown} action, and end child processes there.
   */
  @Test
  public void required_spec304_stopLeavesNoFilesAndNoProcesses() throws Exception {
    VerificationBudgets budgets = effectiveBudgets();
    ServiceDefinition def = definition(budgets.processDeadline());
    DaemonInfo info = ensureRunning(def);
    List<ProcessHandle> tree = new ArrayList<>();
    ProcessHandle.of(info.pid()).ifPresent(h -> {
      tree.add(h);
      tree.addAll(h.descendants().toList());
    });
    StopResult result = Broker.create().stop(def, budgets.stopGrace());
    if (result == StopResult.KILLED) {
      fail("the daemon did not stop within the " + budgets.stopGrace().toMillis()
          + " ms grace period on SHUTDOWN and SIGTERM and had to be killed");
    }
    List<Long> alive = new ArrayList<>();
    for (ProcessHandle h : tree) {
      if (!Processes.awaitGone(h.pid(), budgets.processDeadline())) {
        alive.add(h.pid());
      }
    }
    if (!alive.isEmpty()) {
      fail("processes of the daemon still run after stop: " + alive);
    }
    Path runtime = def.runtimeDirectory().orElseThrow();
    Set<String> left = listNames(runtime).stream()
        .filter(n -> BROKER_BOOKKEEPING.stream().noneMatch(s -> n.equals(def.name() + s)))
        .filter(n -> !(n.startsWith(def.name() + ".") && n.endsWith(".jsa")))
        .collect(Collectors.toCollection(TreeSet::new));
    if (!left.isEmpty()) {
      fail("stop left files behind in the runtime directory: " + left);
    }
  }

  /**
   * Rule 305: after the daemon is killed with {@code kill -9}, the next {@code ensureRunning} spawns a
   * new daemon that binds the same endpoint and accepts.
   *
   * <p>If this fails, check that {@code bind} reclaims a dead socket file (rule 205) and that nothing
   * in {@code main} refuses to start because of files a killed daemon left (the message lists the
   * files in the runtime directory): a pid file or marker checked for existence alone survives
   * {@code kill -9}, which runs no shutdown hook. Check that the pid it names is alive, or hold an
   * advisory lock, which the kernel drops with the process.
   */
  @Test
  public void required_spec305_recoversAfterKill9() throws Exception {
    VerificationBudgets budgets = effectiveBudgets();
    ServiceDefinition def = definition(budgets.processDeadline());
    DaemonInfo first = ensureRunning(def);
    ProcessHandle.of(first.pid()).ifPresent(ProcessHandle::destroyForcibly); // SIGKILL on Unix
    if (!Processes.awaitGone(first.pid(), budgets.processDeadline())) {
      fail("pid " + first.pid() + " survived SIGKILL within " + budgets.processDeadline());
    }
    DaemonInfo second;
    try {
      second = ensureRunning(def);
    } catch (DaemonStartException e) {
      throw new AssertionError("ensureRunning could not start the daemon again after kill -9 (files in the runtime "
          + "directory besides the broker's: " + ownFiles(def) + "): " + e.getMessage(), e);
    }
    if (!second.spawned() || second.pid() == first.pid()) {
      fail("ensureRunning after kill -9 did not spawn a new daemon: " + second);
    }
    try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      c.connect(UnixDomainSocketAddress.of(second.endpoint().path().orElseThrow()));
    } catch (IOException e) {
      throw new AssertionError("the respawned daemon's endpoint " + second.endpoint() + " refuses: " + e, e);
    }
  }

  /**
   * Rule 306: launchers calling {@code ensureRunning} at once (one broker each, released together)
   * all get the same, single daemon, spawned once; and the broker's files ({@code SERVICE.spawn-lock},
   * {@code SERVICE.spawns}, {@code SERVICE.log}) are still in place once it runs.
   *
   * <p>The launchers are threads of this JVM, which share the broker's open spawn-lock file; launcher
   * processes exclude each other only through that file, so a daemon that deletes it lets two
   * launchers started later each spawn a daemon. Its presence is checked for that reason.
   *
   * <p>If this fails, check that the daemon does not start other daemons itself, that {@code main}
   * passes the service name the launchers use, and that nothing in {@code main} or {@code serve}
   * deletes files in the runtime directory other than its own (a "remove stale locks" or "clean the
   * runtime directory" step with a wildcard).
   */
  @Test
  public void required_spec306_concurrentLaunchersYieldOneDaemon() throws Exception {
    VerificationBudgets budgets = effectiveBudgets();
    ServiceDefinition def = definition(budgets.processDeadline());
    int n = budgets.launchers();
    ExecutorService pool = Executors.newFixedThreadPool(n);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<DaemonInfo>> results = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Callable<DaemonInfo> launcher = () -> {
          go.await();
          return ensureRunning(def);
        };
        results.add(pool.submit(launcher));
      }
      go.countDown();
      Set<Long> pids = new HashSet<>();
      long spawned = 0;
      long deadline = System.nanoTime() + budgets.processDeadline().toNanos();
      for (Future<DaemonInfo> f : results) {
        DaemonInfo info = await(f, deadline);
        pids.add(info.pid());
        spawned += info.spawned() ? 1 : 0;
      }
      if (pids.size() != 1 || spawned != 1) {
        fail(n + " launchers at once got daemons " + pids + " with " + spawned + " spawns; expected one daemon");
      }
      Path runtime = def.runtimeDirectory().orElseThrow();
      List<String> gone = BROKER_BOOKKEEPING.stream().sorted().map(s -> def.name() + s)
          .filter(name -> !Files.exists(runtime.resolve(name), LinkOption.NOFOLLOW_LINKS)).toList();
      if (!gone.isEmpty()) {
        fail("the broker's files " + gone + " in " + runtime + " are gone once the daemon runs: without "
            + def.name() + ".spawn-lock, launcher processes no longer exclude each other and each may spawn a "
            + "daemon; " + def.name() + ".spawns holds the crash-loop count and " + def.name() + ".log the daemon's "
            + "output. Delete only the daemon's own files.");
      }
    } finally {
      pool.shutdownNow();
      if (!pool.awaitTermination(budgets.processDeadline().toMillis(), TimeUnit.MILLISECONDS)) {
        fail("launcher threads did not finish");
      }
    }
  }

  /**
   * Rule 307: a daemon that runs out of descriptors keeps serving, and serves again once they are
   * free. The kit lowers the running daemon's soft limit on open files ({@code prlimit}) in two
   * steps, and the daemon must not exit within the serve-watch period after either. First below
   * every descriptor it has open, and sends two connections: any {@code accept} that starts now meets
   * {@code EMFILE} (one already blocked may complete: Linux reserves its descriptor when the call
   * starts). Then to one above its lowest free descriptor, raised one at a time while nothing happens
   * (a blocked {@code accept} holds a descriptor {@code /proc} does not list): a queued connection is
   * accepted on the one free descriptor, and whatever the backend opens for it meets
   * {@code EMFILE}; both connections must be answered. Last the limit is restored, and a fresh connection and {@code HELLO} must be answered. Each client sends one byte ({@code \n}), ends its output and
   * waits for the daemon to close the connection (after an answer or not): a backend whose protocol
   * waits for more sees the end of stream and is expected to close. Skipped where {@code /proc} or
   * {@code prlimit} is missing.
   *
   * <p>The SDK's {@code IpcListener.accept} waits out {@code EMFILE} itself; what this rule checks is
   * the backend's own code: its accept loop (a bare channel's {@code accept} throws), and what it does
   * per connection (opening a file, a database handle or a log for each request fails while no
   * descriptor is free).
   *
   * <p>If this fails, check what escapes {@code serve} when a per-connection step throws an
   * {@code IOException} ("Too many open files"): catch it around that connection, close the
   * connection and keep accepting, so descriptor pressure costs one request and never the daemon
   * and its warm state. Accept through {@code IpcListener.accept}, and open shared files once, in
   * warm-up, rather than per request.
   */
  @Test
  public void required_spec307_keepsServingWhenDescriptorsRunOut() throws Exception {
    Optional<String> unavailable = Descriptors.unavailableBecause();
    Assumptions.assumeTrue(unavailable.isEmpty(), () -> unavailable.orElse(""));
    VerificationBudgets budgets = effectiveBudgets();
    ServiceDefinition def = definition(budgets.processDeadline());
    DaemonInfo info = ensureRunning(def);
    long pid = info.pid();
    Path sock = info.endpoint().path().orElseThrow();
    Path log = def.runtimeDirectory().orElseThrow().resolve(def.name() + ".log");
    long deadline = budgets.processDeadline().toNanos();

    // The daemon's own per-connection path runs once before any pressure (classes loaded, pools made).
    requireAnswer(sock, deadline, "a connection before any descriptor pressure", log);
    if (Processes.awaitGone(pid, Duration.ZERO)) {
      fail("the daemon exited after serving one connection, before any descriptor pressure (see rule 303); log:\n"
          + LogFiles.tail(log, 0));
    }
    long original = Descriptors.softLimit(pid);
    SocketChannel first = null;
    SocketChannel second = null;
    try {
      // At most 3, below every descriptor a JVM opens past stdin, stdout and stderr: no descriptor
      // that closes later can make room, and any accept that starts from now meets EMFILE.
      Descriptors.setSoftLimit(pid, Math.min(3, Descriptors.lowestFree(pid)), budgets.processDeadline());
      first = sendOneByte(sock, pid, log);
      second = sendOneByte(sock, pid, log);
      if (Processes.awaitGone(pid, budgets.serveWatch())) {
        fail("the daemon exited while no descriptor was free: EMFILE in its accept loop, or in what it does for a"
            + " connection accepted just before, ended serve; log:\n" + LogFiles.tail(log, 0));
      }
      // Room for exactly one more descriptor: a queued connection is accepted on it, and whatever the
      // backend opens for that connection meets EMFILE. A thread blocked in accept holds a descriptor
      // number /proc does not list yet (the control endpoint's acceptor, say), so the limit is raised
      // one at a time until the daemon takes the last connection (or dies).
      long limit = Descriptors.lowestFree(pid) + 1;
      for (int step = 0; step < 16; step++, limit++) {
        Descriptors.setSoftLimit(pid, limit, budgets.processDeadline());
        if (closedWithin(second, budgets.serveWatch().toNanos(), pid)) {
          break;
        }
      }
      try (SocketChannel a = first; SocketChannel b = second) {
        awaitAnswer(a, deadline, "the first connection sent while no descriptor was free", pid, log);
        awaitAnswer(b, deadline, "the second connection sent while no descriptor was free", pid, log);
      }
      if (Processes.awaitGone(pid, budgets.serveWatch())) {
        fail("the daemon exited while only one descriptor was free, the one its connection took: EMFILE in what it"
            + " does for a connection ended serve; log:\n" + LogFiles.tail(log, 0));
      }
    } finally {
      if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
        Descriptors.setSoftLimit(pid, original, budgets.processDeadline());
      }
    }
    requireAnswer(sock, deadline, "a connection after the descriptor limit was restored", log);
    try {
      ControlClient.hello(info.controlEndpoint(), budgets.processDeadline());
    } catch (IOException e) {
      throw new AssertionError("HELLO failed after the descriptor limit was restored: " + e, e);
    }
  }

  /**
   * Connects, sends one byte and ends the output. A daemon that accepts and closes without reading
   * makes the write fail with a broken pipe: that connection was served, and the caller's wait sees
   * it closed. Only a failed connect fails here, naming the daemon's state and log.
   */
  private static SocketChannel sendOneByte(Path sock, long pid, Path log) throws Exception {
    SocketChannel c;
    try {
      c = SocketChannel.open(UnixDomainSocketAddress.of(sock));
    } catch (IOException e) {
      boolean gone = pid > 0 && Processes.awaitGone(pid, Duration.ZERO);
      throw new AssertionError("cannot connect to " + sock + ": " + e
          + (gone ? " (the daemon, pid " + pid + ", has exited)" : "") + "; log:\n" + LogFiles.tail(log, 0), e);
    }
    try {
      c.write(java.nio.ByteBuffer.wrap(new byte[] {'\n'}));
      c.shutdownOutput();
    } catch (IOException closedByTheDaemon) {
      // accepted and closed already
    }
    c.configureBlocking(false);
    return c;
  }

  private static void requireAnswer(Path sock, long deadlineNanos, String what, Path log) throws Exception {
    try (SocketChannel c = sendOneByte(sock, -1, log)) {
      awaitAnswer(c, deadlineNanos, what, -1, log);
    }
  }

  /**
   * Waits until the daemon has closed {@code c} (after answering or not; the client ended its
   * output, so the daemon's side has seen the end of stream); fails at the deadline or if it died.
   * Waiting for the close, not just a first byte, means the daemon's descriptor for it is gone.
   */
  private static void awaitAnswer(SocketChannel c, long timeoutNanos, String what, long pid, Path log)
      throws Exception {
    if (!closedWithin(c, timeoutNanos, pid)) {
      boolean gone = pid > 0 && Processes.awaitGone(pid, Duration.ZERO);
      fail(what + " was not closed by the daemon " + (gone ? "before the daemon died" : "within the deadline")
          + "; log:\n" + LogFiles.tail(log, 0));
    }
  }

  /** Whether the daemon closes {@code c} within {@code timeoutNanos}; false early if it has died. */
  private static boolean closedWithin(SocketChannel c, long timeoutNanos, long pid) throws IOException {
    long end = System.nanoTime() + timeoutNanos;
    try (java.nio.channels.Selector selector = java.nio.channels.Selector.open()) {
      c.register(selector, java.nio.channels.SelectionKey.OP_READ);
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(256);
      while (true) {
        try {
          b.clear();
          if (c.read(b) < 0) {
            return true; // the end of stream, after whatever answer
          }
        } catch (IOException reset) {
          return true; // closed with our byte unread: accepted and closed, that is handled
        }
        long left = end - System.nanoTime();
        if (left <= 0 || pid > 0 && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
          return false;
        }
        selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(Math.min(left, 200_000_000L))));
        selector.selectedKeys().clear();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Clean-up and helpers.

  /**
   * Closes listeners, stops every daemon this test started and kills whatever is left. Every step
   * runs even when an earlier one fails (a daemon must never outlive the test in someone's CI); the
   * first failure is rethrown at the end with the others suppressed.
   */
  @AfterEach
  void cleanUp() throws Exception {
    Exception first = null;
    Duration deadline = VerificationBudgets.defaults().processDeadline();
    try {
      deadline = effectiveBudgets().processDeadline();
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
    for (long pid : spawnedPids) {
      try {
        Processes.killTree(pid, deadline);
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

  private static DaemonInfo await(Future<DaemonInfo> f, long deadline) throws Exception {
    try {
      return f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      throw new AssertionError("a launcher's ensureRunning did not return in time", e);
    } catch (ExecutionException e) {
      throw new AssertionError("a launcher's ensureRunning failed: " + e.getCause(), e.getCause());
    }
  }

  private DaemonInfo ensureRunning(ServiceDefinition def) throws IOException {
    synchronized (started) {
      if (!started.contains(def)) {
        started.add(def);
      }
    }
    DaemonInfo info = Broker.create().ensureRunning(def);
    synchronized (spawnedPids) {
      spawnedPids.add(info.pid());
    }
    return info;
  }

  private ServiceDefinition definition(Duration probeBudget) throws IOException {
    BackendUnderTest b = backend();
    Path runtime = runtimeDirectory();
    return ServiceDefinition.builder(b.service())
        .javaMain(b.daemonMain().getName())
        .javaOptions(b.javaOptions().toArray(String[]::new))
        .runtimeDirectory(runtime)
        .probeBudget(probeBudget)
        .build();
  }

  /** The test's owner-only runtime directory, created on first use. */
  private Path runtimeDirectory() throws IOException {
    Path runtime = scratch.resolve("rt");
    if (!Files.isDirectory(runtime)) {
      Files.createDirectory(runtime, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
    return runtime;
  }

  private void assertNoFindings(Forbidden.Category category) {
    BindReachability analysis = BindReachability.of(backend().backendClass());
    List<BindReachability.Finding> findings = analysis.findings(category);
    if (!findings.isEmpty()) {
      fail(backendName() + ".bind must not do " + category.label() + ", but:\n  - "
          + findings.stream().map(BindReachability.Finding::describe).collect(Collectors.joining("\n  - ")));
    }
  }

  private void expectInvalid(BrokeredBackend backend, Endpoint endpoint, String what) throws IOException {
    try {
      IpcListener l = track(backend.bind(endpoint));
      fail(backendName() + ".bind on " + endpoint + ", where " + what + " stands, returned " + l
          + " instead of throwing BindException.InvalidEndpoint");
    } catch (BindException.InvalidEndpoint expected) {
      // what the rule asks for
    } catch (BindException other) {
      fail(backendName() + ".bind on " + endpoint + ", where " + what + " stands, threw "
          + other.getClass().getSimpleName() + " instead of InvalidEndpoint: " + other.getMessage());
    }
  }

  private void assertAccepts(IpcListener listener, Endpoint endpoint, String what) throws Exception {
    Path path = endpoint.path().orElseThrow();
    try (SocketChannel client = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      try {
        client.connect(UnixDomainSocketAddress.of(path));
      } catch (IOException e) {
        throw new AssertionError(what + " refuses connections: " + e, e);
      }
      acceptWithin(listener, what);
    }
  }

  /** Accepts the connection pending on {@code listener} within the process deadline, then closes it. */
  private void acceptWithin(IpcListener listener, String what) throws Exception {
    ExecutorService acceptor = Executors.newSingleThreadExecutor();
    try {
      Future<SocketChannel> accepted = acceptor.submit(listener::accept);
      long deadline = System.nanoTime() + effectiveBudgets().processDeadline().toNanos();
      try (SocketChannel server = accepted.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
        if (server == null) {
          fail(what + ": accept returned nothing");
        }
      } catch (TimeoutException e) {
        throw new AssertionError(what + ": the listener did not accept a pending connection", e);
      }
    } finally {
      listener.close();
      acceptor.shutdownNow();
    }
  }

  private BrokeredBackend newBackend() throws Exception {
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

  private IpcListener track(IpcListener listener) {
    if (listener != null) {
      openListeners.add(listener);
    }
    return listener;
  }

  private Endpoint endpoint(String name) throws BindException.InvalidEndpoint {
    return Endpoint.unixPath(scratch.resolve(name + ".sock"));
  }

  private String backendName() {
    return backend().backendClass().getSimpleName();
  }

  private static Object fileKey(Path path) {
    try {
      return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
    } catch (IOException e) {
      return null;
    }
  }

  /** The names in {@code def}'s runtime directory other than the broker's bookkeeping files. */
  private static Set<String> ownFiles(ServiceDefinition def) throws IOException {
    Set<String> names = listNames(def.runtimeDirectory().orElseThrow());
    BROKER_BOOKKEEPING.forEach(s -> names.remove(def.name() + s));
    return names;
  }

  private static Set<String> listNames(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
    }
  }
}
