package dev.fastbind.conformance;

/**
 * The rules of the fast-bind contract, one method per rule, each numbered as in the module's
 * {@code SPEC.md}; {@link BrokeredBackendVerification} implements every one as a JUnit Jupiter test.
 *
 * <p>This interface is where a backend author reads what a red rule means: each method's Javadoc
 * says what the rule checks and ends with what to check when it fails. The names tell how a rule is
 * reported:
 *
 * <ul>
 *   <li>{@code required_spec<NNN>_…}: every backend must pass it. {@code 1xx} are static rules on the
 *       backend's bytecode, {@code 2xx} run {@code bind} in the test JVM, {@code 3xx} spawn the daemon
 *       with the real broker, {@code 4xx} start it with the listener hand-off (Linux), where the broker
 *       binds the endpoint and hands the listening socket over, {@code 5xx} check what the daemon decides
 *       about its own lifetime.
 *   <li>{@code optional_spec<NNN>_…}: a capability a backend may decline; a clean decline is reported
 *       as skipped with the backend's reason, a wrong one fails.
 *   <li>{@code untested_spec<NNN>_…}: something the contract asks that the kit cannot check (what the
 *       static analysis cannot follow); always reported as skipped, with the reason and the rules that
 *       cover it instead.
 * </ul>
 *
 * <p>A rule this platform cannot check is reported as skipped with the reason. The kit's own tests
 * fail when a method here has no row in {@code SPEC.md}, when a row has no method, or when a
 * {@code required_} or {@code optional_} rule has no deliberately broken backend that fails it.
 */
public interface BrokeredBackendRules {

  // Static rules (1xx): the backend's bytecode, analysed with ArchUnit.

  /**
   * Rule 101: code reachable from {@code bind} does no file I/O.
   *
   * <p>If this fails, check the call named in the message and move it into {@code serve}, after the
   * endpoint exists: configuration, caches and logs are read there.
   */
  void required_spec101_bindDoesNoFileIo();

  /**
   * Rule 102: code reachable from {@code bind} never sleeps, waits, parks or blocks on another thread.
   *
   * <p>If this fails, check the call named in the message: a retry loop with a sleep, a latch or a
   * future's {@code get}. {@code bind} either binds at once or throws a {@code BindException}.
   */
  void required_spec102_bindNeverSleepsOrWaits();

  /**
   * Rule 103: code reachable from {@code bind} creates no threads, executors, timers or processes.
   *
   * <p>If this fails, check the call named in the message; start background work in {@code serve}.
   */
  void required_spec103_bindStartsNoThreads();

  /**
   * Rule 104: code reachable from {@code bind} opens no network connections, does no DNS look-ups
   * and no JDBC.
   *
   * <p>If this fails, check the call named in the message: connect to databases and upstream services
   * in {@code serve}, while the daemon reports {@code WARMING}.
   */
  void required_spec104_bindOpensNoConnections();

  /**
   * Rule 105: code reachable from {@code bind} (and the backend's static initialiser) reads or writes
   * no instance field and no non-final static field.
   *
   * <p>If this fails, check the field named in the message: the daemon's state belongs to an object
   * created inside {@code serve}, not to the backend class or to statics.
   */
  void required_spec105_bindTouchesNoState();

  /**
   * Rule 106: the backend class (and its superclasses in the backend's own code) declares no instance
   * fields.
   *
   * <p>If this fails, check the fields named in the message and move them into an object that
   * {@code serve} creates; an inner (non-static) backend class carries its outer instance as a field.
   */
  void required_spec106_backendHasNoInstanceFields();

  /**
   * Rule 107: the backend class has a no-argument constructor, and every constructor does nothing but
   * call its superclass's constructor.
   *
   * <p>If this fails, check the constructor named in the message: anything it does runs before
   * {@code bind}, so it delays every waiting launcher. Move it into {@code serve}.
   */
  void required_spec107_backendHasTrivialConstructor();

  // What the static analysis cannot follow (19x): placeholders, always reported as skipped.

  /**
   * Untested 191: code that {@code bind} reaches through an interface or a superclass implemented
   * outside the backend's imported location (a library's {@code Supplier}, a {@code ServiceLoader}
   * plug-in). The call site is checked against the forbidden lists; the implementation is not.
   *
   * <p>Covered instead by rules 201 (the bind budget) and 301 (readiness), which see the delay it
   * causes. If one of those fails while 101–105 pass, check the plug-ins and callbacks {@code bind}
   * hands work to.
   */
  void untested_spec191_implementationsOutsideTheBackendAreNotFollowed();

  /**
   * Untested 192: work done inside a library or the JDK beyond the listed entry points (a logging
   * framework that opens its file on first use, a cache library that loads from disk).
   *
   * <p>Covered instead by rules 201 and 301. If one of those fails while 101–105 pass, check the
   * library calls in {@code bind}: the first call into a logging or cache library often does I/O.
   */
  void untested_spec192_workInsideLibrariesIsNotFollowed();

  /**
   * Untested 193: reflection ({@code Method.invoke}, {@code Class.forName(…).newInstance()}), method
   * handles ({@code MethodHandle.invoke*}) and {@code invokedynamic} other than lambdas and method
   * references: their targets are unknown in bytecode.
   *
   * <p>Covered instead by rules 201–206, which observe the effects (a replaced socket: 203; files
   * left behind: 206; slowness: 201). If one of those fails while 101–105 pass, check reflective
   * calls reachable from {@code bind}.
   */
  void untested_spec193_reflectionAndMethodHandlesAreNotFollowed();

  /**
   * Untested 194: static initialisers of classes other than the backend class, which run when a class
   * is first touched (possibly inside {@code bind}).
   *
   * <p>Covered instead by rules 201 and 301. If one of those fails while 101–105 pass, check the
   * static initialisers of the classes {@code bind} touches: a static cache loaded from disk, a
   * static connection pool.
   */
  void untested_spec194_otherClassesStaticInitialisersAreNotFollowed();

  /**
   * Untested 195: state reached through a call (a singleton's getter, a {@code ThreadLocal}); only
   * direct field accesses in the backend's own code are seen by rule 105.
   *
   * <p>Covered in part by rule 106, which keeps state off the backend class itself. If a daemon
   * behaves differently on its second {@code bind}, check singletons and thread-locals that
   * {@code bind} reads.
   */
  void untested_spec195_stateReachedThroughACallIsNotSeen();

  // In-process rules (2xx): bind in the test JVM, real Unix sockets.

  /**
   * Rule 201: {@code bind} returns within the bind budget (the fastest of three calls after one warm-up
   * call, so class loading and a noisy neighbour do not count).
   *
   * <p>If this fails, check what {@code bind} computes: hashing, parsing, large allocations or a
   * library call that does I/O the static rules cannot see. {@code bind} should only bind.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec201_bindReturnsWithinBudget() throws Exception;

  /**
   * Rule 202: the listener {@code bind} returns is bound to the requested endpoint, and a connection
   * made there before {@code serve} runs is accepted: {@code accept} returns that very connection
   * (it receives the byte the kit sends), not {@code null} and not another one.
   *
   * <p>If this fails, check that {@code bind} binds exactly the endpoint it is given (not one derived
   * from configuration) and returns a listening socket.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec202_endpointAcceptsConnectionBeforeServe() throws Exception;

  /**
   * Rule 203: binding an endpoint a live listener holds fails with {@code BindException.AlreadyBound},
   * and the live listener keeps its socket file and keeps accepting.
   *
   * <p>If this fails, check for code that deletes the socket path before binding, or a socket library
   * with {@code SO_REUSEADDR} on (junixsocket's default): either silently steals a live daemon's
   * endpoint. Use {@code IpcListener.bind}, which reclaims only dead socket files.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec203_secondBindOnLiveEndpointIsAlreadyBound() throws Exception;

  /**
   * Rule 204: an endpoint that cannot be bound as written (a regular file or a directory at the socket
   * path) fails with {@code BindException.InvalidEndpoint}, and what stands there is left untouched.
   *
   * <p>If this fails, check how {@code bind} reports failures: keep the SDK's taxonomy
   * ({@code InvalidEndpoint}, {@code AlreadyBound}, {@code Io}, {@code Other}) instead of wrapping, and
   * never delete what is not a dead socket.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec204_invalidEndpointIsInvalidEndpoint() throws Exception;

  /**
   * Rule 205: a stale socket file (left by a daemon killed with {@code kill -9}, nobody listening) is
   * reclaimed: {@code bind} succeeds and the new listener accepts.
   *
   * <p>If this fails, check that {@code bind} uses {@code IpcListener.bind} (which probes and removes a
   * dead socket file) rather than a bare {@code ServerSocketChannel.bind}.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec205_staleSocketFileIsReclaimed() throws Exception;

  /**
   * Rule 206: when the endpoint is taken, the daemon exits with {@code Daemon.EXIT_BIND_FAILED}
   * without reaching {@code serve} and leaves no file behind; the live listener is undisturbed (it
   * still accepts the kit's connection).
   *
   * <p>If this fails, check what {@code bind} creates before the failing bind (a second socket, a
   * temporary file) and close or remove it before throwing; and that {@code main} does nothing but
   * call {@code Daemon.builder(…).run(args)}.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec206_failedBindLeavesNothingAndNeverServes() throws Exception;

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
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void optional_spec207_abstractEndpointIsBoundOrDeclinedCleanly() throws Exception;

  // Out-of-process rules (3xx): the daemon, spawned by the real broker.

  /**
   * Rule 301: on the first spawn the broker sees the daemon ready within the readiness budget, JVM
   * start included (2 s by default for shared CI; the broker's own default probe budget is 500 ms).
   *
   * <p>If this fails, check what runs before {@code bind}: work in {@code main} or in static
   * initialisers, a heavy class path, JVM options that slow start-up. Everything slow belongs in
   * {@code serve}.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec301_readyWithinProbeBudgetOnFirstSpawn() throws Exception;

  /**
   * Rule 302: the lockfile names the daemon's real pid, its endpoint, the service and the declared
   * version.
   *
   * <p>If this fails, check the {@code version(…)} passed to {@code Daemon.builder} against the one
   * declared in {@link BackendUnderTest}, and that {@code main} does not fork or re-exec.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec302_lockfileNamesPidEndpointAndVersion() throws Exception;

  /**
   * Rule 303: {@code HELLO} answers as soon as the broker reports the daemon up, whether {@code serve}
   * is still warming or ready, with the daemon's own identity (pid, instance id, service); and
   * {@code serve} does not return: the daemon is still running after the serve-watch period, and
   * {@code HELLO} then still answers as the same daemon, its state not back from {@code READY} to
   * {@code WARMING}.
   *
   * <p>If this fails, check that {@code serve} loops (accepting connections) instead of returning or
   * throwing, and that nothing stops the SDK's control thread (a {@code System.exit}, a JVM-wide lock).
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec303_helloAnswersWhileServingAndServeNeverReturns() throws Exception;

  /**
   * Rule 304: {@code Broker.stop} stops the daemon within the grace period (on {@code SHUTDOWN} or
   * {@code SIGTERM}, without needing {@code SIGKILL}) and leaves no process and no file but the
   * broker's own log and lock files and its class-data sharing archive ({@code <service>.<key>.jsa}).
   *
   * <p>If this fails, check the files named in the message: remove what {@code serve} creates in an
   * {@code onShutdown} action, and end child processes there.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec304_stopLeavesNoFilesAndNoProcesses() throws Exception;

  /**
   * Rule 305: after the daemon is killed with {@code kill -9}, the next {@code ensureRunning} spawns a
   * new daemon that binds the same endpoint and accepts.
   *
   * <p>If this fails, check that {@code bind} reclaims a dead socket file (rule 205) and that nothing
   * in {@code main} refuses to start because of files a killed daemon left (the message lists the
   * files in the runtime directory): a pid file or marker checked for existence alone survives
   * {@code kill -9}, which runs no shutdown hook. Check that the pid it names is alive, or hold an
   * advisory lock, which the kernel drops with the process.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec305_recoversAfterKill9() throws Exception;

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
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec306_concurrentLaunchersYieldOneDaemon() throws Exception;

  /**
   * Rule 307: a daemon that runs out of descriptors keeps serving, and serves again once they are
   * free. Once the daemon reports {@code READY} (warm-up, which opens files and loads classes, is not
   * what this rule checks), the kit lowers its soft limit on open files ({@code prlimit}) in two
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
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec307_keepsServingWhenDescriptorsRunOut() throws Exception;

  /**
   * Rule 308: the daemon reports {@code READY} within the warm-up budget (10 s by default) of its
   * spawn: {@code HELLO} answers {@code READY}, not {@code WARMING}, by then. Until {@code serve}
   * calls {@code ServeContext.ready()} the daemon says {@code WARMING} forever, and launchers and
   * status commands that wait for {@code READY} wait for nothing.
   *
   * <p>If this fails, check that {@code serve} calls {@code context.ready()} once warm-up is done
   * (the message shows the last progress reported, which says how far it came); for a warm-up that
   * is simply longer on your CI machine, raise {@code FASTBIND_CONFORMANCE_WARMUP_MS}.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec308_reportsReadyWithinTheWarmupBudget() throws Exception;

  // Hand-off rules (4xx): the broker binds the endpoint and hands the listening socket to the daemon.

  /**
   * Rule 401: a daemon started with the listener hand-off
   * ({@code ServiceDefinition.Builder.listenerHandoff(true)}) serves the very socket the broker bound
   * and binds none of its own. A client connects to the broker-bound endpoint as soon as
   * {@code ensureRunning} returns ({@code DaemonInfo.Stage.BOUND}: the daemon's JVM is only starting)
   * and ends its output without sending anything; once the daemon serves, that client must be
   * answered: the daemon closes the connection (after an answer or none), never resets it or leaves
   * it waiting. The daemon must then hold the listening socket the broker bound (the same socket and
   * socket file), and nothing else may listen at the endpoint. Skipped off Linux.
   *
   * <p>The SDK's bootstrap does the adoption: {@code Daemon.run} takes the socket from the broker and
   * calls {@code serve} with it, never {@code bind}. What this rule checks is what the backend does
   * with the listener it is given: a connection waits in that socket's backlog from before the
   * daemon existed, and closing the socket resets it.
   *
   * <p>If this fails, check {@code serve} for code that closes the {@code IpcListener} it is given
   * and binds the endpoint again (a server framework that insists on binding its own socket): accept
   * from the given listener, or hand the framework that listener's connections. If the daemon did
   * not start at all, the message has its exit status and log: check {@code main} (and what it
   * loads) for a call of {@code System.inheritedChannel()} before {@code Daemon.run}: the SDK adopts
   * the handed-off socket through descriptor 0 and that call, and the JDK keeps its first answer.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec401_servesTheHandedOffListenerAndBindsNoneOfItsOwn() throws Exception;

  /**
   * Rule 402: a daemon handed something other than a listening socket fails closed. The kit plays
   * the broker: it serves the hand-off rendezvous ({@code FASTBIND_HANDOFF}) itself, starts the
   * daemon's {@code main} directly and gives it the descriptor of a regular file. The daemon must
   * refuse it, exit with {@code Daemon.EXIT_BIND_FAILED} (69) without serving, print one line on
   * standard error that names the rendezvous (the JVM's own {@code WARNING:} and {@code Picked up}
   * lines and blank lines aside: JDK 24 and later warn when junixsocket loads its native library),
   * and bind nothing:
   * no socket file at its endpoint, nothing listening there, no file left in its runtime directory.
   * A daemon that bound a socket of its own beside a failed hand-off would serve a socket other than
   * the one the launchers are already waiting on. Skipped off Linux.
   *
   * <p><b>No backend can break this rule</b>: the SDK's bootstrap takes the descriptor before it
   * calls any backend code and exits before {@code bind}. Only a {@code main} that works around
   * {@code Daemon.run} can, for example one that binds the endpoint itself when the daemon could not
   * start (from a shutdown hook, since {@code Daemon.run} ends the JVM); the kit's self-test proves
   * the rule on such a {@code main}.
   *
   * <p>If this fails, check {@code main} and its shutdown hooks for a fallback that binds the
   * endpoint or keeps the JVM alive, and for output on standard error around {@code Daemon.run}.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec402_failsClosedOnADescriptorThatIsNotAListener() throws Exception;

  /**
   * Rule 403: replacing a daemon ({@code Broker.replace} with the hand-off, as version policy
   * restarts do) refuses and resets no client, and the old daemon drains and exits. A client loop
   * connects at full speed from before the replacement until after the old daemon exited and the new
   * one served (each client ends its output at once and waits for the daemon to close); no connect
   * may be refused and no connection reset or left unanswered. A connection the old daemon accepted
   * before the replacement, whose client sends its request ({@code \n}, then the end of its output)
   * only once the old daemon has stopped accepting and one serve-watch period (1 s by default) has
   * passed, must be answered by the old daemon: closed after the request, not cut off when the old
   * daemon exits. The old daemon must then exit within the process deadline. A connection that the
   * daemon answers and closes before the replacement is not in flight, and is not held. Skipped off
   * Linux.
   *
   * <p>The SDK hands the listener over (it stays open in the broker and then in the new daemon, so
   * connections keep queueing), closes the old daemon's copy, which ends its {@code accept}, and runs
   * the {@code onShutdown} actions; the JVM exits when they return. So the backend drains in an
   * {@code onShutdown} action that waits, bounded by a few seconds (longer than the serve-watch
   * period for which the kit holds its request back), until the connections it accepted are done.
   *
   * <p>If this fails, check the {@code onShutdown} actions: one that waits for the requests in flight
   * (a counter, or {@code executor.shutdown()} and {@code awaitTermination}), not one that interrupts
   * them ({@code shutdownNow} interrupts a read on a channel, which closes the connection); an accept
   * loop that ends the process ({@code Runtime.halt}) when its listener closes; and, for a daemon
   * that does not exit, an action that waits without a bound.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void required_spec403_replacementRefusesNoClientAndTheOldDaemonDrains() throws Exception;

  // Lifetime rules (5xx): what the daemon decides about its own end.

  /**
   * Optional rule 501: a daemon with an idle timeout exits when idle, and not before. Applies to a
   * backend that declares one ({@link BackendUnderTest#withIdleTimeout}); for any other it is
   * reported as skipped. The kit starts the daemon's {@code main} directly with the declared options
   * and holds a connection open (sending nothing) for twice the timeout, at least the timeout and
   * the serve-watch period: the daemon must not exit meanwhile. Once the kit closes the connection
   * the daemon must exit no sooner than the timeout and within the timeout plus the stop grace
   * period, with status 0, leaving no file in its runtime directory. A daemon that closes the
   * connection itself ends the hold early; it must then exit within the same bound.
   *
   * <p>The SDK's idle watch counts the daemon idle while no {@code ServeContext.busy()} handle is
   * open (and no {@code touch()} came for the timeout); the SDK's request loop holds one per
   * connection. A backend with a server stack of its own decides the outcome: it takes a handle
   * per open connection and closes it, whatever way the connection ends.
   *
   * <p>If this fails, check the connection handling: a daemon that exits under an open connection
   * takes no {@code context.busy()} handle for it; one that never exits leaks a handle (closed on
   * the answered path only, not in a {@code finally} or try-with-resources), or calls
   * {@code touch()} from a timer. The message has the daemon's log, where the SDK records the idle
   * stop.
   *
   * @throws Exception if the rule cannot be run (a failed rule throws an {@link AssertionError})
   */
  void optional_spec501_idleTimeoutEndsTheDaemonWhenIdleAndNotBefore() throws Exception;
}
