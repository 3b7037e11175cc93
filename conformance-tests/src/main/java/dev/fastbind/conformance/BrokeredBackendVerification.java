package dev.fastbind.conformance;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.wire.LockfileCodec;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.ControlClient;
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
import dev.fastbind.conformance.internal.Connections;
import dev.fastbind.conformance.internal.Descriptors;
import dev.fastbind.conformance.internal.Fixture;
import dev.fastbind.conformance.internal.Forbidden;
import dev.fastbind.conformance.internal.HelloChecks;
import dev.fastbind.conformance.internal.Processes;
import dev.fastbind.conformance.internal.RuntimeFiles;
import dev.fastbind.conformance.internal.StaticChecks;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
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
 * <p><b>The rules</b> are the methods of {@link BrokeredBackendRules}, numbered as in the module's
 * {@code SPEC.md}; read a rule's Javadoc there for what it checks and what to check when it fails.
 * {@code required_spec1xx_…} are static rules on the backend's bytecode (ArchUnit),
 * {@code required_spec2xx_…} run {@code bind} in this JVM, {@code required_spec3xx_…} spawn the daemon
 * with the real broker. {@code optional_spec…} rules check a capability a backend may decline; a
 * backend that declines cleanly is reported as skipped with its reason. {@code untested_spec…} rules
 * name what the kit cannot check and are always reported as skipped. A rule this platform cannot
 * check is reported as skipped with the reason.
 *
 * <p><b>Budgets</b> come from {@link #budgets()} with environment overrides; see
 * {@link VerificationBudgets} for the variables and their precedence.
 *
 * <p><b>Isolation.</b> Every test uses its own owner-only runtime directory, its own broker and its
 * own daemon; whatever it spawned is stopped or killed after it, and every wait has a deadline.
 */
public abstract class BrokeredBackendVerification implements BrokeredBackendRules {

  @TempDir
  Path scratch;

  private Fixture fixture;

  /** For subclasses, which override {@link #backend()}; JUnit creates one instance per rule. */
  protected BrokeredBackendVerification() {}

  /**
   * Describes the backend under test: its class and how to start it as a daemon.
   *
   * @return the backend under test; the kit may call this more than once per rule
   */
  protected abstract BackendUnderTest backend();

  /**
   * The budgets for this backend; environment variables still win over what this returns. Override
   * to start from other values than {@link VerificationBudgets#defaults()}.
   *
   * @return the budgets before environment overrides
   */
  protected VerificationBudgets budgets() {
    return VerificationBudgets.defaults();
  }

  @BeforeEach
  void prepare() {
    fixture = new Fixture(scratch, this::backend, this::budgets);
  }

  /** Closes, stops and kills whatever the rule opened or started, even after a failure. */
  @AfterEach
  void cleanUp() throws Exception {
    if (fixture != null) {
      fixture.cleanUp();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Static rules: the backend's bytecode.

  @Test
  @Override
  public void required_spec101_bindDoesNoFileIo() {
    assertNoFindings(Forbidden.Category.FILE_IO);
  }

  @Test
  @Override
  public void required_spec102_bindNeverSleepsOrWaits() {
    assertNoFindings(Forbidden.Category.SLEEP_OR_WAIT);
  }

  @Test
  @Override
  public void required_spec103_bindStartsNoThreads() {
    assertNoFindings(Forbidden.Category.THREADS);
  }

  @Test
  @Override
  public void required_spec104_bindOpensNoConnections() {
    assertNoFindings(Forbidden.Category.NETWORK);
  }

  @Test
  @Override
  public void required_spec105_bindTouchesNoState() {
    assertNoFindings(Forbidden.Category.STATE);
  }

  @Test
  @Override
  public void required_spec106_backendHasNoInstanceFields() {
    List<String> fields = StaticChecks.instanceFields(BindReachability.of(backend().backendClass()));
    if (!fields.isEmpty()) {
      fail(backendName() + " must hold no state, but has instance fields: " + String.join(", ", fields)
          + ". Create the daemon's state inside serve.");
    }
  }

  @Test
  @Override
  public void required_spec107_backendHasTrivialConstructor() {
    List<String> problems = StaticChecks.constructorProblems(BindReachability.of(backend().backendClass()));
    if (!problems.isEmpty()) {
      fail(backendName() + " must have a trivial constructor, but " + String.join("; ", problems));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What the static analysis cannot follow: placeholders, reported as skipped.

  @Test
  @Override
  public void untested_spec191_implementationsOutsideTheBackendAreNotFollowed() {
    notVerified("implementations of interfaces and superclasses outside the backend's location are not followed"
        + " (only the call site is checked); rules 201 and 301 catch the delay they cause");
  }

  @Test
  @Override
  public void untested_spec192_workInsideLibrariesIsNotFollowed() {
    notVerified("work inside libraries and the JDK beyond the listed entry points is not followed;"
        + " rules 201 and 301 catch the delay it causes");
  }

  @Test
  @Override
  public void untested_spec193_reflectionAndMethodHandlesAreNotFollowed() {
    notVerified("the targets of reflection, method handles and invokedynamic other than lambdas and method"
        + " references are unknown in bytecode; rules 201-206 observe their effects");
  }

  @Test
  @Override
  public void untested_spec194_otherClassesStaticInitialisersAreNotFollowed() {
    notVerified("static initialisers of classes other than the backend class are not followed;"
        + " rules 201 and 301 catch the delay they cause");
  }

  @Test
  @Override
  public void untested_spec195_stateReachedThroughACallIsNotSeen() {
    notVerified("state reached through a call (a singleton's getter, a ThreadLocal) is not seen, only direct"
        + " field accesses; rule 106 keeps state off the backend class itself");
  }

  // ---------------------------------------------------------------------------------------------
  // In-process rules: bind in this JVM.

  @Test
  @Override
  public void required_spec201_bindReturnsWithinBudget() throws Exception {
    BrokeredBackend backend = fixture.newBackend();
    Duration budget = fixture.budgets().bind();
    fixture.track(backend.bind(fixture.endpoint("warm"))).close();
    long fastest = Long.MAX_VALUE;
    for (int i = 0; i < 3; i++) {
      Endpoint endpoint = fixture.endpoint("timed" + i);
      long start = System.nanoTime();
      IpcListener listener = backend.bind(endpoint);
      fastest = Math.min(fastest, System.nanoTime() - start);
      fixture.track(listener).close();
    }
    if (fastest > budget.toNanos()) {
      fail(backendName() + ".bind took " + TimeUnit.NANOSECONDS.toMillis(fastest)
          + " ms (fastest of 3 calls after a warm-up); the budget is " + budget.toMillis() + " ms");
    }
  }

  @Test
  @Override
  public void required_spec202_endpointAcceptsConnectionBeforeServe() throws Exception {
    Endpoint endpoint = fixture.endpoint("main");
    IpcListener listener = fixture.track(fixture.newBackend().bind(endpoint));
    if (!endpoint.equals(listener.endpoint())) {
      fail(backendName() + ".bind was asked for " + endpoint + " but returned a listener on "
          + listener.endpoint());
    }
    assertAccepts(listener, endpoint, "the endpoint " + endpoint + " returned by bind");
  }

  @Test
  @Override
  public void required_spec203_secondBindOnLiveEndpointIsAlreadyBound() throws Exception {
    BrokeredBackend backend = fixture.newBackend();
    Endpoint endpoint = fixture.endpoint("live");
    IpcListener first = fixture.track(backend.bind(endpoint));
    Path path = endpoint.path().orElseThrow();
    Optional<Object> before = RuntimeFiles.fileKey(path);
    try {
      IpcListener second = fixture.track(backend.bind(endpoint));
      fail(backendName() + ".bind on " + endpoint + ", which a live listener holds, returned " + second
          + " instead of throwing BindException.AlreadyBound");
    } catch (BindException.AlreadyBound expected) {
      // what the rule asks for
    } catch (BindException other) {
      fail(backendName() + ".bind on a live endpoint threw " + other.getClass().getSimpleName()
          + " instead of AlreadyBound: " + other.getMessage());
    }
    Optional<Object> after = RuntimeFiles.fileKey(path);
    if (before.isEmpty() || !before.equals(after)) {
      fail(backendName() + ".bind replaced the live socket file at " + path
          + " (its inode changed): a second daemon stole the first one's endpoint");
    }
    assertAccepts(first, endpoint, "the first listener after a second bind");
  }

  @Test
  @Override
  public void required_spec204_invalidEndpointIsInvalidEndpoint() throws Exception {
    BrokeredBackend backend = fixture.newBackend();
    Endpoint fileEndpoint = fixture.endpoint("file");
    Path file = fileEndpoint.path().orElseThrow();
    Files.writeString(file, "not a socket");
    expectInvalid(backend, fileEndpoint, "a regular file");
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || !Files.readString(file).equals("not a socket")) {
      fail(backendName() + ".bind changed the regular file standing at " + file);
    }
    Endpoint dirEndpoint = fixture.endpoint("dir");
    Files.createDirectory(dirEndpoint.path().orElseThrow());
    expectInvalid(backend, dirEndpoint, "a directory");
  }

  @Test
  @Override
  public void required_spec205_staleSocketFileIsReclaimed() throws Exception {
    Endpoint endpoint = fixture.endpoint("stale");
    Path path = endpoint.path().orElseThrow();
    try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(path));
    }
    Assumptions.assumeTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS),
        "this platform removes a socket file when its listener closes, so no stale file can be made");
    IpcListener listener;
    try {
      listener = fixture.track(fixture.newBackend().bind(endpoint));
    } catch (BindException e) {
      throw new AssertionError(backendName() + ".bind did not reclaim the stale socket file at " + path
          + " (nobody listens there): " + e, e);
    }
    assertAccepts(listener, endpoint, "the listener bound over a stale socket file");
  }

  @Test
  @Override
  public void required_spec206_failedBindLeavesNothingAndNeverServes() throws Exception {
    BackendUnderTest b = backend();
    Duration deadline = fixture.budgets().processDeadline();
    Path runtime = fixture.runtimeDirectory();
    Path path = ServiceLayout.of(b.service(), runtime).endpoint().path().orElseThrow();
    Path logDir = Files.createDirectory(fixture.scratch().resolve("logs"));
    Path log = logDir.resolve("daemon.log");
    try (ServerSocketChannel holder = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      holder.bind(UnixDomainSocketAddress.of(path));
      Set<String> before = RuntimeFiles.listNames(runtime);
      Process process = Processes.startJava(b.daemonMain().getName(), b.javaOptions(),
          Map.of("FASTBIND_RUNTIME_DIR", runtime.toString()), log);
      fixture.trackProcess(process.pid());
      Optional<Integer> status = Processes.awaitExit(process, deadline);
      if (status.isEmpty()) {
        fail("the daemon kept running although its endpoint " + path + " was taken; it should exit with "
            + Daemon.EXIT_BIND_FAILED + ". Output:\n" + LogFiles.tail(log, 0));
      }
      if (status.get() != Daemon.EXIT_BIND_FAILED) {
        fail("the daemon exited with status " + status.get() + " instead of " + Daemon.EXIT_BIND_FAILED
            + " when its endpoint was taken. Output:\n" + LogFiles.tail(log, 0));
      }
      Set<String> leftBehind = new TreeSet<>(RuntimeFiles.listNames(runtime));
      leftBehind.removeAll(before);
      if (!leftBehind.isEmpty()) {
        fail("a daemon whose bind failed left files behind in its runtime directory: " + leftBehind);
      }
      String what = "the live listener at " + path + " (after the failed daemon exited)";
      try (SocketChannel client = Connections.connect(path, what)) {
        Connections.assertAcceptsPeer(holder::accept, client, deadline, what);
      }
    }
  }

  @Test
  @Override
  public void optional_spec207_abstractEndpointIsBoundOrDeclinedCleanly() throws Exception {
    String os = System.getProperty("os.name", "");
    Assumptions.assumeTrue(os.toLowerCase(Locale.ROOT).contains("linux"),
        () -> "abstract Unix-socket names exist only on Linux; this is " + os);
    Endpoint endpoint = Endpoint.abstractName("fastbind-kit-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
    IpcListener listener;
    try {
      listener = fixture.track(fixture.newBackend().bind(endpoint));
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
    String what = "the abstract endpoint " + endpoint + " returned by bind";
    try (SocketChannel client = AFUNIXSocketChannel.open()) {
      try {
        client.connect(AFUNIXSocketAddress.inAbstractNamespace(name));
      } catch (IOException e) {
        throw new AssertionError(what + " refuses connections: " + e, e);
      }
      acceptWithin(listener, client, what);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Out-of-process rules: the daemon, spawned by the real broker.

  @Test
  @Override
  public void required_spec301_readyWithinProbeBudgetOnFirstSpawn() throws Exception {
    Duration budget = fixture.budgets().readiness();
    ServiceDefinition def = fixture.definition(budget);
    try {
      DaemonInfo info = fixture.ensureRunning(def);
      if (!info.spawned()) {
        fail("the first ensureRunning in an empty runtime directory reused a daemon instead of spawning one");
      }
    } catch (DaemonStartException e) {
      fail("the daemon was not ready within the " + budget.toMillis() + " ms readiness budget on its first spawn: "
          + e.getMessage());
    }
  }

  @Test
  @Override
  public void required_spec302_lockfileNamesPidEndpointAndVersion() throws Exception {
    BackendUnderTest b = backend();
    ServiceDefinition def = fixture.definition(fixture.budgets().processDeadline());
    DaemonInfo info = fixture.ensureRunning(def);
    Path runtime = def.runtimeDirectory().orElseThrow();
    Optional<LockfileRecord> read = Lockfiles.read(runtime.resolve(b.service() + LockfileCodec.FILE_SUFFIX));
    if (read.isEmpty()) {
      fail("no lockfile at " + ServiceLayout.of(b.service(), runtime).lockfile() + " while the daemon runs");
    }
    LockfileRecord r = read.get();
    List<String> wrong = new ArrayList<>();
    Endpoint expectedEndpoint = ServiceLayout.of(b.service(), runtime).endpoint();
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

  @Test
  @Override
  public void required_spec303_helloAnswersWhileServingAndServeNeverReturns() throws Exception {
    VerificationBudgets budgets = fixture.budgets();
    ServiceDefinition def = fixture.definition(budgets.processDeadline());
    Path log = ServiceLayout.of(def.name(), def.runtimeDirectory().orElseThrow()).log();
    DaemonInfo info;
    try {
      info = fixture.ensureRunning(def);
    } catch (DaemonStartException e) {
      throw new AssertionError("the daemon exited while starting; serve must never return: " + e.getMessage(), e);
    }
    HelloReply hello;
    try {
      hello = ControlClient.hello(info.controlEndpoint(), budgets.processDeadline());
    } catch (IOException e) {
      throw new AssertionError("HELLO on " + info.controlEndpoint() + " failed right after ensureRunning "
          + "(the daemon exited? serve must never return): " + e + "; log:\n" + LogFiles.tail(log, 0), e);
    }
    List<String> wrong = HelloChecks.identityProblems(hello, info.pid(), info.instanceId(), def.name());
    if (!wrong.isEmpty()) {
      fail("HELLO answered for another daemon: " + hello + " (expected pid " + info.pid() + ", instance "
          + info.instanceId() + "): " + String.join("; ", wrong));
    }
    if (Processes.awaitGone(info.pid(), budgets.serveWatch())) {
      fail("the daemon exited within " + budgets.serveWatch().toMillis() + " ms of being ready: serve returned "
          + "or threw; log:\n" + LogFiles.tail(log, 0));
    }
    HelloReply later;
    try {
      later = ControlClient.hello(info.controlEndpoint(), budgets.processDeadline());
    } catch (IOException e) {
      throw new AssertionError("HELLO on " + info.controlEndpoint() + " failed " + budgets.serveWatch().toMillis()
          + " ms after the daemon was ready although it still runs: the control thread no longer answers: " + e
          + "; log:\n" + LogFiles.tail(log, 0), e);
    }
    List<String> changed = HelloChecks.laterProblems(hello, later);
    if (!changed.isEmpty()) {
      fail("HELLO " + budgets.serveWatch().toMillis() + " ms after the first answered " + later + " (first: " + hello
          + "): " + String.join("; ", changed));
    }
  }

  @Test
  @Override
  public void required_spec304_stopLeavesNoFilesAndNoProcesses() throws Exception {
    VerificationBudgets budgets = fixture.budgets();
    ServiceDefinition def = fixture.definition(budgets.processDeadline());
    DaemonInfo info = fixture.ensureRunning(def);
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
    Set<String> left = RuntimeFiles.leftAfterStop(def);
    if (!left.isEmpty()) {
      fail("stop left files behind in the runtime directory: " + left);
    }
  }

  @Test
  @Override
  public void required_spec305_recoversAfterKill9() throws Exception {
    VerificationBudgets budgets = fixture.budgets();
    ServiceDefinition def = fixture.definition(budgets.processDeadline());
    DaemonInfo first = fixture.ensureRunning(def);
    ProcessHandle.of(first.pid()).ifPresent(ProcessHandle::destroyForcibly); // SIGKILL on Unix
    if (!Processes.awaitGone(first.pid(), budgets.processDeadline())) {
      fail("pid " + first.pid() + " survived SIGKILL within " + budgets.processDeadline());
    }
    DaemonInfo second;
    try {
      second = fixture.ensureRunning(def);
    } catch (DaemonStartException e) {
      throw new AssertionError("ensureRunning could not start the daemon again after kill -9 (files in the runtime "
          + "directory besides the broker's: " + RuntimeFiles.ownFiles(def) + "): " + e.getMessage(), e);
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

  @Test
  @Override
  public void required_spec306_concurrentLaunchersYieldOneDaemon() throws Exception {
    VerificationBudgets budgets = fixture.budgets();
    ServiceDefinition def = fixture.definition(budgets.processDeadline());
    int n = budgets.launchers();
    // The spawn lock's file is made here, before the race, so that a daemon that deletes it is seen
    // even though the broker recreates a lock file it finds replaced (a new inode) or gone.
    Path spawnLock = ServiceLayout.of(def.name(), def.runtimeDirectory().orElseThrow()).spawnLock();
    dev.fastbind.backend.internal.RuntimeDirectory.ensureOwnerOnly(def.runtimeDirectory().orElseThrow());
    Files.createFile(spawnLock, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
    Optional<Object> lockBefore = RuntimeFiles.identity(spawnLock);
    ExecutorService pool = Executors.newFixedThreadPool(n);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<DaemonInfo>> results = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Callable<DaemonInfo> launcher = () -> {
          go.await();
          return fixture.ensureRunning(def);
        };
        results.add(pool.submit(launcher));
      }
      go.countDown();
      Set<Long> pids = new HashSet<>();
      long spawned = 0;
      long deadline = System.nanoTime() + budgets.processDeadline().toNanos();
      for (Future<DaemonInfo> f : results) {
        DaemonInfo info = Fixture.awaitLauncher(f, deadline);
        pids.add(info.pid());
        spawned += info.spawned() ? 1 : 0;
      }
      if (pids.size() != 1 || spawned != 1) {
        fail(n + " launchers at once got daemons " + pids + " with " + spawned + " spawns; expected one daemon");
      }
      List<String> gone = new ArrayList<>(RuntimeFiles.missingBookkeeping(def));
      if (!gone.contains(spawnLock.getFileName().toString()) && !RuntimeFiles.identity(spawnLock).equals(lockBefore)) {
        gone.add(spawnLock.getFileName().toString()); // deleted, then made anew by a launcher
      }
      if (!gone.isEmpty()) {
        fail("the broker's files " + gone + " in " + def.runtimeDirectory().orElseThrow() + " are gone once the"
            + " daemon runs: without " + def.name() + ".spawn-lock, launcher processes no longer exclude each other"
            + " and each may spawn a daemon; " + def.name() + ".spawns holds the crash-loop count and " + def.name()
            + ".log the daemon's output. Delete only the daemon's own files.");
      }
    } finally {
      pool.shutdownNow();
      if (!pool.awaitTermination(budgets.processDeadline().toMillis(), TimeUnit.MILLISECONDS)) {
        fail("launcher threads did not finish");
      }
    }
  }

  @Test
  @Override
  public void required_spec307_keepsServingWhenDescriptorsRunOut() throws Exception {
    Optional<String> unavailable = Descriptors.unavailableBecause();
    Assumptions.assumeTrue(unavailable.isEmpty(), () -> unavailable.orElse(""));
    VerificationBudgets budgets = fixture.budgets();
    ServiceDefinition def = fixture.definition(budgets.processDeadline());
    DaemonInfo info = fixture.ensureRunning(def);
    long pid = info.pid();
    Path sock = info.endpoint().path().orElseThrow();
    Path log = ServiceLayout.of(def.name(), def.runtimeDirectory().orElseThrow()).log();
    long deadline = budgets.processDeadline().toNanos();

    // The daemon's own per-connection path runs once before any pressure (classes loaded, pools made).
    Connections.requireAnswer(sock, deadline, "a connection before any descriptor pressure", log);
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
      String exitedWithoutDescriptors = "the daemon exited while no descriptor was free: EMFILE in its accept loop,"
          + " or in what it does for a connection accepted just before, ended serve; log:\n";
      try {
        first = Connections.sendOneByte(sock, pid, log);
        second = Connections.sendOneByte(sock, pid, log);
      } catch (AssertionError refused) {
        // An accept already blocked may take the first connection: its serve can die before the second.
        if (Processes.awaitGone(pid, budgets.serveWatch())) {
          fail(exitedWithoutDescriptors + LogFiles.tail(log, 0), refused);
        }
        throw refused;
      }
      if (Processes.awaitGone(pid, budgets.serveWatch())) {
        fail(exitedWithoutDescriptors + LogFiles.tail(log, 0));
      }
      // Room for exactly one more descriptor: a queued connection is accepted on it, and whatever the
      // backend opens for that connection meets EMFILE. A thread blocked in accept holds a descriptor
      // number /proc does not list yet (the control endpoint's acceptor, say), so the limit is raised
      // one at a time until the daemon takes the last connection (or dies).
      long limit = Descriptors.lowestFree(pid) + 1;
      for (int step = 0; step < 16; step++, limit++) {
        Descriptors.setSoftLimit(pid, limit, budgets.processDeadline());
        if (Connections.closedWithin(second, budgets.serveWatch().toNanos(), pid)) {
          break;
        }
      }
      try (SocketChannel a = first; SocketChannel b = second) {
        Connections.awaitAnswer(a, deadline, "the first connection sent while no descriptor was free", pid, log);
        Connections.awaitAnswer(b, deadline, "the second connection sent while no descriptor was free", pid, log);
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
    Connections.requireAnswer(sock, deadline, "a connection after the descriptor limit was restored", log);
    try {
      ControlClient.hello(info.controlEndpoint(), budgets.processDeadline());
    } catch (IOException e) {
      throw new AssertionError("HELLO failed after the descriptor limit was restored: " + e, e);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Small steps the rules share; the machinery behind them is in the internal package.

  private static void notVerified(String reason) {
    Assumptions.abort("not verified by the kit: " + reason);
  }

  private String backendName() {
    return backend().backendClass().getSimpleName();
  }

  private void assertNoFindings(Forbidden.Category category) {
    StaticChecks.findings(BindReachability.of(backend().backendClass()), category).ifPresent(findings ->
        fail(backendName() + ".bind must not do " + category.label() + ", but:\n" + findings));
  }

  private void expectInvalid(BrokeredBackend backend, Endpoint endpoint, String what) throws IOException {
    try {
      IpcListener l = fixture.track(backend.bind(endpoint));
      fail(backendName() + ".bind on " + endpoint + ", where " + what + " stands, returned " + l
          + " instead of throwing BindException.InvalidEndpoint");
    } catch (BindException.InvalidEndpoint expected) {
      // what the rule asks for
    } catch (BindException other) {
      fail(backendName() + ".bind on " + endpoint + ", where " + what + " stands, threw "
          + other.getClass().getSimpleName() + " instead of InvalidEndpoint: " + other.getMessage());
    }
  }

  /** Connects to {@code endpoint} and checks {@code listener} accepts that connection; closes the listener. */
  private void assertAccepts(IpcListener listener, Endpoint endpoint, String what) throws Exception {
    try (SocketChannel client = Connections.connect(endpoint.path().orElseThrow(), what)) {
      acceptWithin(listener, client, what);
    }
  }

  /** Checks {@code listener} accepts {@code client}'s pending connection within the process deadline. */
  private void acceptWithin(IpcListener listener, SocketChannel client, String what) throws Exception {
    try {
      Connections.assertAcceptsPeer(listener::accept, client, fixture.budgets().processDeadline(), what);
    } finally {
      listener.close();
    }
  }
}
