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
import dev.fastbind.backend.internal.Handoff;
import dev.fastbind.backend.internal.SocketHolders;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.conformance.internal.ClientConnection;
import dev.fastbind.conformance.internal.ClientLoop;
import dev.fastbind.conformance.internal.UnixSockets;
import java.io.FileInputStream;
import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.LockfileException;
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
 * with the real broker, {@code required_spec4xx_…} with the listener hand-off (Linux), {@code …_spec5xx_…} check
 * what the daemon decides about its own lifetime (the idle timeout). {@code optional_spec…} rules check a capability a backend may decline; a
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
      // The death record of the failed start is left by design (see docs/wire.md).
      leftBehind.removeIf(name -> name.contains(dev.fastbind.backend.internal.DeathRecords.INFIX));
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

    // Pressure on a daemon still warming up would meet its warm-up (opening its index, loading its
    // classes), not its serving: wait for READY first (rule 308 holds the warm-up to its budget).
    long warm = System.nanoTime() + budgets.warmup().toNanos();
    while (ControlClient.hello(info.controlEndpoint(), budgets.processDeadline()).state() != DaemonState.READY) {
      if (System.nanoTime() - warm > 0) {
        fail("the daemon did not report READY within the " + budgets.warmup().toMillis() + " ms warm-up budget"
            + " (see rule 308)" + daemonLog(log));
      }
      if (Processes.awaitGone(pid, Duration.ofMillis(20))) { // a pause between asks that ends if it exits
        fail("the daemon exited while warming up (see rule 303)" + daemonLog(log));
      }
    }
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

  @Test
  @Override
  public void required_spec308_reportsReadyWithinTheWarmupBudget() throws Exception {
    VerificationBudgets budgets = fixture.budgets();
    Duration warmup = budgets.warmup();
    ServiceDefinition def = fixture.definition(budgets.processDeadline());
    Path log = ServiceLayout.of(def.name(), def.runtimeDirectory().orElseThrow()).log();
    long end = System.nanoTime() + warmup.toNanos();
    DaemonInfo info;
    try {
      info = fixture.ensureRunning(def);
    } catch (DaemonStartException e) {
      throw new AssertionError("the daemon did not start (see rules 301 and 303): " + e.getMessage(), e);
    }
    while (true) {
      HelloReply hello;
      try {
        hello = ControlClient.hello(info.controlEndpoint(), budgets.processDeadline());
      } catch (IOException e) {
        throw new AssertionError("HELLO on " + info.controlEndpoint() + " failed while the kit waited for READY (the"
            + " daemon exited? see rule 303): " + e + daemonLog(log), e);
      }
      if (hello.state() == DaemonState.READY) {
        return;
      }
      if (System.nanoTime() - end > 0) {
        fail("the daemon did not report READY within the " + warmup.toMillis() + " ms warm-up budget of its spawn:"
            + " HELLO still says " + hello.state() + " " + hello.progressPercent() + "%"
            + hello.phase().map(p -> " (" + p + ")").orElse("") + ". serve must call context.ready() once warm-up"
            + " is done; until then HELLO says WARMING forever. If warm-up is only slower on this machine, raise "
            + VerificationBudgets.WARMUP_ENV + daemonLog(log));
      }
      if (Processes.awaitGone(info.pid(), Duration.ofMillis(20))) { // a pause between asks that ends if it exits
        fail("the daemon exited while it still reported " + hello.state() + " (see rule 303)" + daemonLog(log));
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Hand-off rules: the broker binds the endpoint and hands the listening socket to the daemon.

  @Test
  @Override
  public void required_spec401_servesTheHandedOffListenerAndBindsNoneOfItsOwn() throws Exception {
    assumeHandoff();
    VerificationBudgets budgets = fixture.budgets();
    ServiceDefinition def = fixture.handoffDefinition(budgets.processDeadline());
    Path log = ServiceLayout.of(def.name(), def.runtimeDirectory().orElseThrow()).log();
    DaemonInfo bound = fixture.ensureRunning(def);
    Path sock = bound.endpoint().path().orElseThrow();
    Set<Long> brokers = UnixSockets.listening(bound.endpoint());
    Optional<Object> file = RuntimeFiles.identity(sock);
    boolean daemonHeldIt = SocketHolders.holds(bound.pid(), bound.endpoint());
    String when = bound.stage() == DaemonInfo.Stage.BOUND && !daemonHeldIt
        ? "before the daemon had taken it" : "right after ensureRunning returned";
    ClientConnection early;
    try {
      early = ClientConnection.open(sock);
    } catch (IOException e) {
      throw new AssertionError("the endpoint " + bound.endpoint() + " the broker bound refuses connections ("
          + e + ")" + daemonLog(log), e);
    }
    try (early) {
      early.endOutput();
      try {
        fixture.awaitServing(bound);
      } catch (DaemonStartException e) {
        throw new AssertionError("the daemon did not start with the listener hand-off: " + e.getMessage(), e);
      }
      ClientConnection.Ending ending = early.awaitEnd(budgets.processDeadline().toNanos());
      if (ending != ClientConnection.Ending.CLOSED) {
        fail("a client that connected to the socket the broker bound, " + when + ", was " + early.describe()
            + (ending == ClientConnection.Ending.RESET
                ? ": the socket it waited on was closed; the daemon does not serve the listener it was handed"
                : " after " + budgets.processDeadline().toMillis() + " ms: the daemon does not accept from the"
                    + " listener it was handed")
            + daemonLog(log));
      }
    }
    Set<Long> now = UnixSockets.listening(bound.endpoint());
    if (!SocketHolders.holds(bound.pid(), bound.endpoint()) || !now.equals(brokers)
        || !RuntimeFiles.identity(sock).equals(file)) {
      fail("the daemon (pid " + bound.pid() + ") does not serve the socket the broker bound at " + sock
          + " (listening inodes then " + brokers + ", now " + now + "; the daemon holds one: "
          + SocketHolders.holds(bound.pid(), bound.endpoint()) + "; same socket file: "
          + RuntimeFiles.identity(sock).equals(file) + "): it bound a socket of its own");
    }
  }

  @Test
  @Override
  public void required_spec402_failsClosedOnADescriptorThatIsNotAListener() throws Exception {
    assumeHandoff();
    BackendUnderTest b = backend();
    Duration deadline = fixture.budgets().processDeadline();
    Path runtime = fixture.runtimeDirectory();
    ServiceLayout layout = ServiceLayout.of(b.service(), runtime);
    Endpoint endpoint = layout.endpoint();
    Path sock = endpoint.path().orElseThrow();
    Path rendezvousPath = layout.handoffSocket();
    Path logDir = Files.createDirectory(fixture.scratch().resolve("logs"));
    Path out = logDir.resolve("daemon.out");
    Path err = logDir.resolve("daemon.err");
    Path notAListener = Files.writeString(fixture.scratch().resolve("not-a-listener.txt"), "not a socket");
    try (Handoff.Rendezvous rendezvous = Handoff.Rendezvous.bind(rendezvousPath);
        FileInputStream file = new FileInputStream(notAListener.toFile())) {
      Set<String> before = RuntimeFiles.listNames(runtime);
      Process process = Processes.startJava(b.daemonMain().getName(), b.javaOptions(), Map.of(
          Env.RUNTIME_DIR, runtime.toString(),
          Env.HANDOFF, rendezvousPath.toString(),
          Env.HANDOFF_PARENT, Long.toString(ProcessHandle.current().pid()),
          Env.HANDOFF_PATIENCE_MS, Long.toString(deadline.toMillis())), out, err);
      fixture.trackProcess(process.pid());
      long end = System.nanoTime() + deadline.toNanos();
      try {
        rendezvous.give(file.getFD(), endpoint, process.pid(), end, pid -> process.isAlive());
        fail("the daemon took the descriptor of a regular file as its listener (it answered OK on " + rendezvousPath
            + ")");
      } catch (IOException refused) {
        // what the rule asks for: refused, or exited before it answered
      }
      Optional<Integer> status = Processes.awaitExitUnless(process, deadline,
          () -> Files.exists(sock, LinkOption.NOFOLLOW_LINKS) || !UnixSockets.listening(endpoint).isEmpty());
      String output = "; its standard error:\n" + LogFiles.tail(err, 0);
      if (Files.exists(sock, LinkOption.NOFOLLOW_LINKS) || !UnixSockets.listening(endpoint).isEmpty()) {
        fail("after refusing the hand-off, the daemon bound a socket of its own at " + endpoint
            + " (it must fail closed)" + output);
      }
      if (status.isEmpty()) {
        fail("the daemon kept running for " + deadline.toMillis() + " ms after refusing the hand-off; it should exit"
            + " with " + Daemon.EXIT_BIND_FAILED + output);
      }
      if (status.get() != Daemon.EXIT_BIND_FAILED) {
        fail("the daemon exited with status " + status.get() + " instead of " + Daemon.EXIT_BIND_FAILED
            + " when handed a descriptor that is not a listener" + output);
      }
      List<String> lines = Processes.ownLines(err);
      if (lines.size() != 1 || !lines.get(0).contains(rendezvousPath.toString())) {
        fail("the daemon printed " + lines.size() + " line(s) on standard error, not one line naming the rendezvous "
            + rendezvousPath + output);
      }
      Set<String> leftBehind = new TreeSet<>(RuntimeFiles.listNames(runtime));
      leftBehind.removeAll(before);
      // The death record of the failed start is left by design (see docs/wire.md).
      leftBehind.removeIf(name -> name.contains(dev.fastbind.backend.internal.DeathRecords.INFIX));
      if (!leftBehind.isEmpty()) {
        fail("a daemon whose hand-off failed left files behind in its runtime directory: " + leftBehind);
      }
    }
  }

  @Test
  @Override
  public void required_spec403_replacementRefusesNoClientAndTheOldDaemonDrains() throws Exception {
    assumeHandoff();
    VerificationBudgets budgets = fixture.budgets();
    long deadline = budgets.processDeadline().toNanos();
    ServiceDefinition def = fixture.handoffDefinition(budgets.processDeadline());
    Path log = ServiceLayout.of(def.name(), def.runtimeDirectory().orElseThrow()).log();
    DaemonInfo old;
    try {
      old = fixture.awaitServing(fixture.ensureRunning(def));
    } catch (DaemonStartException e) {
      throw new AssertionError("the daemon did not start with the listener hand-off (see rule 401): "
          + e.getMessage(), e);
    }
    Path sock = old.endpoint().path().orElseThrow();
    Set<Long> listening = UnixSockets.listening(old.endpoint());
    Set<Long> acceptedBefore = UnixSockets.accepted(old.pid(), sock);
    try (ClientConnection held = ClientConnection.open(sock)) {
      boolean inFlight = awaitAccepted(held, old.pid(), sock, acceptedBefore, log);
      try (ClientLoop loop = ClientLoop.start(sock, budgets.processDeadline())) {
        if (!loop.awaitServed(20, System.nanoTime() + deadline)) {
          fail("the daemon did not serve the kit's clients before the replacement: " + loop.describeFailures()
              + daemonLog(log));
        }
        // A daemon that answers on accept and hangs up (tinyd) may have been seen between its write and
        // its close: a connection it ended before the replacement began was never in flight across it.
        inFlight = inFlight && held.poll() == ClientConnection.Ending.OPEN;
        long heldBytes = held.received();
        DaemonInfo next = fixture.replace(def);
        if (next.pid() == old.pid()) {
          fail("Broker.replace did not start a new daemon: " + next);
        }
        awaitHandedOver(old, log);
        if (inFlight) {
          assertAnswersAfterHandover(held, heldBytes, old.pid(), log);
        }
        if (!Processes.awaitGone(old.pid(), budgets.processDeadline())) {
          fail("the old daemon (pid " + old.pid() + ") still runs " + budgets.processDeadline().toMillis()
              + " ms after it handed its listener over: it must drain and exit" + daemonLog(log));
        }
        try {
          fixture.awaitServing(next);
        } catch (DaemonStartException e) {
          throw new AssertionError("the new daemon did not start with the listener handed over: " + e.getMessage(),
              e);
        }
        if (!loop.awaitServed(loop.served() + 20, System.nanoTime() + deadline) || loop.failures() > 0) {
          fail("clients connecting during the replacement were not all served: " + loop.describeFailures()
              + daemonLog(log));
        }
      }
    }
    Set<Long> after = UnixSockets.listening(old.endpoint());
    if (!after.equals(listening)) {
      fail("the endpoint's listening socket changed across the replacement (inodes " + listening + ", then "
          + after + "): a daemon bound a socket of its own");
    }
  }

  /**
   * Waits until daemon {@code pid} has accepted {@code held} (a connection at {@code sock} it did not
   * hold among {@code before}) and still holds it open: true; or has answered and closed it: false.
   */
  private boolean awaitAccepted(ClientConnection held, long pid, Path sock, Set<Long> before, Path log)
      throws IOException {
    long until = System.nanoTime() + fixture.budgets().processDeadline().toNanos();
    while (held.poll() == ClientConnection.Ending.OPEN) {
      Set<Long> accepted = UnixSockets.accepted(pid, sock);
      accepted.removeAll(before);
      if (!accepted.isEmpty() && held.poll() == ClientConnection.Ending.OPEN) {
        return true;
      }
      if (System.nanoTime() - until > 0) {
        fail("the daemon did not accept a connection within " + fixture.budgets().processDeadline().toMillis()
            + " ms" + daemonLog(log));
      }
      held.awaitEnd(TimeUnit.MILLISECONDS.toNanos(2)); // a pause between scans that ends if the daemon answers
    }
    return false;
  }

  /** Waits until the daemon {@code old} no longer holds the listening socket (it handed it over, or died). */
  private void awaitHandedOver(DaemonInfo old, Path log) throws InterruptedException {
    Duration deadline = fixture.budgets().processDeadline();
    long until = System.nanoTime() + deadline.toNanos();
    while (SocketHolders.holds(old.pid(), old.endpoint())) {
      if (System.nanoTime() - until > 0) {
        fail("the old daemon (pid " + old.pid() + ") still holds the listener " + deadline.toMillis()
            + " ms after Broker.replace returned: it did not hand it over" + daemonLog(log));
      }
      Processes.awaitGone(old.pid(), Duration.ofMillis(5)); // a pause between scans that ends if it exits
    }
  }

  /**
   * The request in flight across the hand-over: {@code held} stays open one serve-watch period after
   * the old daemon {@code pid} stopped accepting (it had received {@code heldBytes} before the
   * replacement), then sends its request, and the old daemon must answer it. Closed before the request
   * with an answer sent meanwhile counts as answered; closed with nothing is cut off.
   */
  private void assertAnswersAfterHandover(ClientConnection held, long heldBytes, long pid, Path log)
      throws Exception {
    VerificationBudgets budgets = fixture.budgets();
    boolean gone = Processes.awaitGone(pid, budgets.serveWatch());
    ClientConnection.Ending ending = held.poll();
    String sendFailed = "";
    if (ending == ClientConnection.Ending.OPEN && !gone) {
      try {
        held.sendNewline();
        held.endOutput();
        ending = held.awaitEnd(budgets.processDeadline().toNanos());
        if (ending == ClientConnection.Ending.CLOSED) {
          return;
        }
      } catch (IOException closedMeanwhile) {
        sendFailed = " (sending the request failed: " + closedMeanwhile.getMessage() + ")";
        ending = held.poll();
      }
    }
    if (ending == ClientConnection.Ending.CLOSED && held.received() > heldBytes) {
      return; // answered before its client had finished: not what the kit waited for, but answered
    }
    fail("the old daemon (pid " + pid + ") cut off a request in flight: a connection it had accepted before the"
        + " replacement, whose client was to send its request " + budgets.serveWatch().toMillis() + " ms after the"
        + " hand-over, was " + held.describe() + sendFailed + (gone ? "; the daemon had exited by then" : "") + ". Drain what was accepted"
        + " before exiting (an onShutdown action that waits for it)" + daemonLog(log));
  }

  // ---------------------------------------------------------------------------------------------
  // Lifetime rules: what the daemon decides about its own end.

  @Test
  @Override
  public void optional_spec501_idleTimeoutEndsTheDaemonWhenIdleAndNotBefore() throws Exception {
    BackendUnderTest b = backend();
    Optional<BackendUnderTest.IdleTimeout> declared = b.idleTimeout();
    Assumptions.assumeTrue(declared.isPresent(), () -> backendName() + " declares no idle timeout"
        + " (BackendUnderTest.withIdleTimeout), so the kit cannot tell when its daemon should exit");
    VerificationBudgets budgets = fixture.budgets();
    Duration timeout = declared.get().timeout();
    Path runtime = fixture.runtimeDirectory();
    ServiceLayout layout = ServiceLayout.of(b.service(), runtime);
    Path log = Files.createDirectories(fixture.scratch().resolve("logs")).resolve("daemon.log");
    List<String> options = new ArrayList<>(b.javaOptions());
    options.addAll(declared.get().javaOptions());
    Set<String> before = RuntimeFiles.listNames(runtime);
    Process process = Processes.startJava(b.daemonMain().getName(), options, Map.of(Env.RUNTIME_DIR, runtime.toString()),
        log);
    fixture.trackProcess(process.pid());
    awaitLockfile(process, layout.lockfile(), log);
    String idle = " (idle timeout " + timeout.toMillis() + " ms)";
    long hold = Math.max(2 * timeout.toNanos(), timeout.plus(budgets.serveWatch()).toNanos());
    long closedAt;
    boolean daemonClosed;
    try (ClientConnection held = ClientConnection.open(layout.endpoint().path().orElseThrow())) {
      long heldAt = System.nanoTime();
      Optional<Integer> early = Processes.awaitExitUnless(process, Duration.ofNanos(hold),
          () -> held.poll() != ClientConnection.Ending.OPEN);
      if (early.isEmpty() && held.ending() != ClientConnection.Ending.OPEN) {
        // The connection ended: the daemon closed it, or it is exiting (the kernel closes its sockets
        // a moment before the JVM sees the exit). Told apart below by when it exits.
        // A daemon that closed it goes idle only then, so it cannot exit within half its timeout.
        early = Processes.awaitExit(process, Duration.ofNanos(Math.min(budgets.serveWatch().toNanos(),
            timeout.toNanos() / 2)));
      }
      if (early.isPresent()) {
        fail("the daemon exited (status " + early.get() + ") " + millisSince(heldAt) + " ms into a connection the"
            + " kit held open" + idle + ": an open connection must keep it busy. Take a context.busy() handle for"
            + " each connection and close it when the connection ends (the idle clock runs from the start: if"
            + " warm-up outlasts the timeout, hold one while warming too)" + daemonLog(log));
      }
      daemonClosed = held.ending() != ClientConnection.Ending.OPEN;
      closedAt = System.nanoTime();
    }
    String after = daemonClosed ? " after it closed the kit's connection" : " after the kit closed its connection";
    Optional<Integer> status = Processes.awaitExit(process, timeout.plus(budgets.stopGrace()));
    long exitedAfter = millisSince(closedAt);
    if (status.isEmpty()) {
      fail("the daemon still runs " + exitedAfter + " ms" + after + idle + ", its only connection: something"
          + " holds it busy. Close every context.busy() handle whatever way its connection ends (try-with-resources),"
          + " and do not touch() from a timer" + daemonLog(log));
    }
    // The kit sees a close by the daemon a moment late, so half the timeout is the bound then.
    long soonest = daemonClosed ? timeout.toMillis() / 2 : timeout.toMillis();
    if (exitedAfter < soonest) {
      fail("the daemon exited " + exitedAfter + " ms" + after + idle + ": sooner than its idle timeout"
          + daemonLog(log));
    }
    if (status.get() != 0) {
      fail("the daemon exited with status " + status.get() + " instead of 0 when it went idle" + idle
          + daemonLog(log));
    }
    Set<String> leftBehind = new TreeSet<>(RuntimeFiles.listNames(runtime));
    leftBehind.removeAll(before);
    // Its death record ("stopped: idle") and rotated logs are the SDK's bookkeeping (docs/wire.md).
    leftBehind.removeIf(name -> name.contains(dev.fastbind.backend.internal.DeathRecords.INFIX)
        || name.matches(".*\\.log\\.[0-9]+"));
    if (!leftBehind.isEmpty()) {
      fail("the daemon that stopped when idle left files behind in its runtime directory: " + leftBehind
          + "; remove what serve creates in an onShutdown action" + daemonLog(log));
    }
  }

  /** Waits until {@code process} (a daemon the kit started directly) has written a lockfile naming it. */
  private void awaitLockfile(Process process, Path lockfile, Path log) throws InterruptedException {
    Duration deadline = fixture.budgets().processDeadline();
    long until = System.nanoTime() + deadline.toNanos();
    while (true) {
      try {
        Optional<LockfileRecord> r = Lockfiles.read(lockfile);
        if (r.isPresent() && r.get().pid() == process.pid()) {
          return;
        }
      } catch (LockfileException halfWritten) {
        // read again
      }
      if (System.nanoTime() - until > 0) {
        fail("the daemon wrote no lockfile at " + lockfile + " within " + deadline.toMillis() + " ms"
            + daemonLog(log));
      }
      if (process.waitFor(5, TimeUnit.MILLISECONDS)) { // a pause between reads that ends if it exits
        fail("the daemon exited with status " + process.exitValue() + " before it served (see rules 301 and 303)"
            + daemonLog(log));
      }
    }
  }

  private static long millisSince(long nanoTime) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - nanoTime);
  }

  /** The tail of the daemon's log for a message, or that it is empty. */
  private static String daemonLog(Path log) {
    String tail = LogFiles.tail(log, 0);
    return tail.isBlank() ? " (the daemon's log is empty)" : "; log:\n" + tail;
  }

  private static void assumeHandoff() {
    Optional<String> unavailable = UnixSockets.handoffUnavailableBecause();
    Assumptions.assumeTrue(unavailable.isEmpty(), () -> unavailable.orElse(""));
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
