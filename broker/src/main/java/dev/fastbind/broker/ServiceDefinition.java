package dev.fastbind.broker;

import dev.fastbind.backend.internal.wire.Escaping;
import dev.fastbind.backend.Daemon;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything the broker needs to know about one service: its name, how to start its daemon, where its
 * files live and how patient to be. An immutable value, built with {@link #builder(String)}.
 *
 * <p><b>Name.</b> A service name is 1 to 32 characters of lowercase ASCII letters, digits and dashes,
 * starting with a letter ({@value #NAME_RULE}). It becomes part of file names in the runtime
 * directory, so it can never contain a path separator, a dot or a NUL byte, and two services in one
 * directory never share a file.
 *
 * <p><b>How to start the daemon.</b> Either a {@linkplain Builder#command(List) command line}, or a
 * {@linkplain Builder#javaMain(String, String...) Java main class} that the broker runs with the
 * current JVM's {@code java} and class path, so a launcher and its daemon can ship as one jar. The
 * broker adds the {@code FASTBIND_*} environment variables the daemon bootstrap reads, and any
 * {@linkplain Builder#environment(String, String) extra variables}.
 *
 * <p><b>In-process mode.</b> With {@link Builder#inProcess(java.util.function.Supplier) inProcess} the
 * backend runs inside the launcher's JVM instead: the same {@code bind} and {@code serve}, on an
 * endpoint in a private temporary directory, reached through the same {@link DaemonClient}. It is for
 * places where background processes are unwelcome (CI, a build tool's {@code --no-daemon}) and for
 * fast tests. A launcher keeps one definition and honours such a flag with one line:
 * {@code if (noDaemon) builder.inProcess(MyBackend::new);} (in-process mode wins over the command or
 * main class, which stay in the definition). See {@link Broker} for what each call does then.
 *
 * <p><b>Runtime directory.</b> Default {@code $XDG_RUNTIME_DIR/fastbind} when that variable holds an
 * absolute path, else {@code <java.io.tmpdir>/fastbind-<user.name>}; it must be owned by the current
 * user and closed to others, which the broker checks on every call (see {@link Broker}). Keep it short: socket paths fit in 107 bytes.
 *
 * <p><b>Class-data sharing.</b> A Java main class daemon is started, by default, with a dynamic CDS
 * archive of its classes kept in the runtime directory, so that every start after the first maps
 * those classes instead of loading them: {@code -XX:+AutoCreateSharedArchive} on JDK 19 and later,
 * {@code -XX:ArchiveClassesAtExit} then {@code -XX:SharedArchiveFile} on JDK 17 and 18. The archive is
 * written when the daemon exits normally (a {@link Broker#stop}), is named
 * {@code <service>.<key>.jsa} with a key derived from the JDK, class path and JVM options, and is never
 * required: a missing, stale or damaged archive only means a start without it. Nothing is added when
 * the class path holds a directory (the JVM cannot archive classes from one) or the daemon's
 * {@linkplain Builder#javaOptions JVM options} already control sharing ({@code -Xshare:off},
 * {@code -XX:SharedArchiveFile}, {@code -XX:AOTCache}…). Turn it off with
 * {@link Builder#classDataSharing(boolean) classDataSharing(false)}.
 *
 * <p><b>Patience.</b> The {@linkplain Builder#probeBudget(Duration) probe budget} (default 500 ms) bounds
 * the time from spawn to a connectable endpoint, and the time a running daemon gets to answer
 * {@code HELLO}. The {@linkplain Builder#crashLoopLimit(int, Duration) crash-loop limit} (default 3
 * spawns per 30 s) stops a daemon that dies at start from being spawned forever. The
 * {@linkplain Builder#spawnLockPatience(Duration) spawn-lock patience} (default 30 s) bounds the wait
 * for another launcher that is starting or stopping the daemon.
 *
 * <pre>{@code
 * ServiceDefinition cache = ServiceDefinition.builder("cache")
 *     .javaMain("com.example.CacheDaemon")
 *     .version("1.4.0")
 *     .versionPolicy(VersionPolicy.RESTART)
 *     .build();
 * }</pre>
 */
public final class ServiceDefinition {

  /** The rule a service name follows, as a regular expression. */
  public static final String NAME_RULE = "[a-z][a-z0-9-]{0,31}";


  /** The default probe budget: how long a spawned daemon has to become connectable. */
  public static final Duration DEFAULT_PROBE_BUDGET = Duration.ofMillis(500);

  /** The default grace period of {@link Broker#stop}. */
  public static final Duration DEFAULT_STOP_GRACE = Duration.ofSeconds(5);

  /** The probe budget of {@link #existing}: how long an operator's {@code status} waits for {@code HELLO}. */
  public static final Duration EXISTING_PROBE_BUDGET = Duration.ofSeconds(2);

  /**
   * The default time a launcher waits for the service's spawn lock while another launcher starts or
   * stops the daemon: well above a probe budget plus a stop grace, so only a stopped or wedged holder
   * reaches it.
   */
  public static final Duration DEFAULT_SPAWN_LOCK_PATIENCE = Duration.ofSeconds(30);

  private final String name;
  private final List<String> command;
  private final String javaMainClass;
  private final List<String> javaOptions;
  private final List<String> arguments;
  private final Map<String, String> environment;
  private final Path runtimeDirectory;
  private final Duration probeBudget;
  private final String version;
  private final VersionPolicy versionPolicy;
  private final UnresponsivePolicy unresponsivePolicy;
  private final int crashLoopSpawns;
  private final Duration crashLoopPeriod;
  private final Supervision keepAlive;
  private final Duration spawnLockPatience;
  private final boolean classDataSharing;
  private final boolean listenerHandoff;
  private final Path workingDirectory;
  private final Map<String, String> compatibilityKey;
  private final String compatibilityText;
  private final CompatibilityPolicy compatibilityPolicy;
  private final int maxSideBySide;
  private final long logLimitBytes;
  private final java.util.function.Supplier<? extends dev.fastbind.backend.BrokeredBackend> inProcess;
  private final int logGenerations;

  /** The default bound of a daemon's log while it runs: 10 MiB. */
  public static final long DEFAULT_LOG_LIMIT_BYTES = 10L << 20;
  /** The default number of older log files kept beside the live one: 3. */
  public static final int DEFAULT_LOG_GENERATIONS = 3;

  private ServiceDefinition(Builder b) {
    this.inProcess = b.inProcess;
    this.logLimitBytes = b.logLimitBytes;
    this.logGenerations = b.logGenerations;
    this.name = b.name;
    this.command = List.copyOf(b.command);
    this.javaMainClass = b.javaMainClass;
    this.javaOptions = List.copyOf(b.javaOptions);
    this.arguments = List.copyOf(b.arguments);
    this.environment = Collections.unmodifiableMap(new LinkedHashMap<>(b.environment));
    this.runtimeDirectory = b.runtimeDirectory;
    this.probeBudget = b.probeBudget;
    this.version = b.version;
    this.versionPolicy = b.versionPolicy;
    this.unresponsivePolicy = b.unresponsivePolicy;
    this.crashLoopSpawns = b.crashLoopSpawns;
    this.crashLoopPeriod = b.crashLoopPeriod;
    this.keepAlive = b.keepAlive;
    this.spawnLockPatience = b.spawnLockPatience;
    this.classDataSharing = b.classDataSharing;
    this.listenerHandoff = b.listenerHandoff;
    this.workingDirectory = b.workingDirectory;
    this.compatibilityPolicy = b.compatibilityPolicy;
    this.maxSideBySide = b.maxSideBySide;
    java.util.TreeMap<String, String> key = new java.util.TreeMap<>();
    if (b.defaultCompatibility) {
      if (b.javaMainClass != null) {
        key.put("java.home", realJavaHome());
        key.put("jvm.options", String.join(" ", b.javaOptions));
        key.put("class.path", dev.fastbind.broker.internal.Spawner.absoluteClassPath(
            System.getProperty("java.class.path", "")));
      } else {
        key.put("command", String.join(" ", b.command));
      }
    }
    for (String variable : b.compatibilityEnvironment) {
      String value = System.getenv(variable);
      key.put("env." + variable.toLowerCase(java.util.Locale.ROOT), value == null ? "(unset)" : value);
    }
    key.putAll(b.compatibilityKeys);
    this.compatibilityKey = Collections.unmodifiableMap(new LinkedHashMap<>(key));
    this.compatibilityText = dev.fastbind.backend.internal.wire.Compatibility.canonical(key);
  }

  private static String realJavaHome() {
    Path home = Path.of(System.getProperty("java.home"));
    try {
      return home.toRealPath().toString();
    } catch (java.io.IOException e) {
      return home.toAbsolutePath().normalize().toString();
    }
  }

  /**
   * A definition for a daemon that is already running, for reporting on it and stopping it when the
   * command that started it is not at hand: what an operator tool ({@code fastbind status}, {@code stop})
   * or {@link Broker#list(Path)} uses for a service it found on disk. {@link Broker#status} and
   * {@link Broker#stop} need only the name, the runtime directory and the default budgets, and check
   * the daemon against the kernel as they do for any definition. Its probe budget is
   * {@link #EXISTING_PROBE_BUDGET}, longer than a launcher's default: an operator's one-off question
   * comes from a cold JVM (whose first {@code HELLO} loads junixsocket's native library) and may reach a
   * daemon that is still warming up on a loaded machine, and a false "unresponsive" costs more there
   * than a wait. Its command is {@code false}, so an
   * {@link Broker#ensureRunning} with it never starts anything useful: it fails with a
   * {@link DaemonStartException}.
   *
   * @param name the service name ({@value #NAME_RULE})
   * @param runtimeDirectory the runtime directory the daemon lives in; absolute
   * @return a definition that identifies the service's files in {@code runtimeDirectory}
   * @throws IllegalArgumentException if the name breaks the rule or the directory is relative
   */
  public static ServiceDefinition existing(String name, Path runtimeDirectory) {
    return builder(name).command("false").runtimeDirectory(runtimeDirectory).probeBudget(EXISTING_PROBE_BUDGET)
        .build();
  }

  /**
   * Starts a definition for the service {@code name}.
   *
   * @param name the service name, by {@value #NAME_RULE}
   * @return a new builder with every default set; give it a {@link Builder#command(List) command} or a
   *     {@link Builder#javaMain(String, String...) main class}, then {@link Builder#build() build} it
   * @throws IllegalArgumentException if the name breaks {@value #NAME_RULE}; the message says how
   */
  public static Builder builder(String name) {
    return new Builder(checkName(name));
  }

  /**
   * Returns {@code name} if it is a valid service name.
   *
   * @param name the candidate, not null
   * @return {@code name} itself, unchanged
   * @throws IllegalArgumentException naming the offending input and the rule
   */
  public static String checkName(String name) {
    Objects.requireNonNull(name, "name");
    if (!Daemon.isValidServiceName(name)) { // the daemon side checks the same rule, without a regex
      throw new IllegalArgumentException("invalid service name '" + Escaping.printable(name)
          + "': use 1 to 32 lowercase letters, digits and dashes, starting with a letter ("
          + NAME_RULE + "); the name becomes a file name in the runtime directory");
    }
    return name;
  }

  /**
   * The service name; also the stem of every file the broker keeps for it.
   *
   * @return the name given to {@link #builder(String)}, valid by {@value #NAME_RULE}
   */
  public String name() {
    return name;
  }

  /**
   * The command line, when the daemon was defined by one; empty when it is a Java main class
   * ({@link #javaMainClass()}).
   *
   * @return an immutable list whose first element is the program; empty for a Java main class
   */
  public List<String> command() {
    return command;
  }

  /**
   * The Java main class, when the daemon runs in a relaunched copy of the current JVM.
   *
   * @return the fully qualified class name; empty when the daemon is defined by a {@link #command()}
   */
  public Optional<String> javaMainClass() {
    return Optional.ofNullable(javaMainClass);
  }

  /**
   * JVM options put before the main class (for example {@code -Xmx256m}); only for a Java main class.
   *
   * @return an immutable list, in order; empty by default and always for a command
   */
  public List<String> javaOptions() {
    return javaOptions;
  }

  /**
   * Arguments after the main class; only for a Java main class.
   *
   * @return an immutable list, in order; empty by default and always for a command
   */
  public List<String> arguments() {
    return arguments;
  }

  /**
   * Extra environment variables for the daemon, on top of the launcher's and the broker's own.
   *
   * @return an immutable map in the order the variables were added; never holds a {@code FASTBIND_*}
   *     name
   */
  public Map<String, String> environment() {
    return environment;
  }

  /**
   * The runtime directory, when one was given; otherwise the broker uses the default.
   *
   * @return the absolute, normalized directory given to the builder; empty for the default, which
   *     {@link Broker#runtimeDirectory(ServiceDefinition)} resolves
   */
  public Optional<Path> runtimeDirectory() {
    return Optional.ofNullable(runtimeDirectory);
  }

  /**
   * How long a spawned daemon has to become connectable, and a running one to answer {@code HELLO}.
   *
   * @return between 1 ms and 10 minutes; {@link #DEFAULT_PROBE_BUDGET} unless set
   */
  public Duration probeBudget() {
    return probeBudget;
  }

  /**
   * The daemon version the launcher expects, when it cares.
   *
   * @return the expected version: the one in the daemon's lockfile matches when it is the same
   *     string, otherwise {@link #versionPolicy()} decides (and may keep a newer daemon, see
   *     {@link VersionPolicy}); empty when any version will do (then the policy is not consulted)
   */
  public Optional<String> version() {
    return Optional.ofNullable(version);
  }

  /**
   * What to do when the running daemon's version differs from {@link #version()}; by default an older
   * daemon is replaced and a newer one kept (see {@link VersionPolicy}).
   *
   * @return the policy; {@link VersionPolicy#RESTART} unless set
   */
  public VersionPolicy versionPolicy() {
    return versionPolicy;
  }

  /**
   * What to do with a daemon whose process exists but which does not answer.
   *
   * @return the policy; {@link UnresponsivePolicy#REPORT} unless set
   */
  public UnresponsivePolicy unresponsivePolicy() {
    return unresponsivePolicy;
  }

  /**
   * At most this many spawns of the service within {@link #crashLoopPeriod()}.
   *
   * @return the limit, at least 1; 3 unless set
   */
  public int crashLoopSpawns() {
    return crashLoopSpawns;
  }

  /**
   * The period of the crash-loop limit.
   *
   * @return the sliding window over which spawns are counted, positive; 30 s unless set
   */
  public Duration crashLoopPeriod() {
    return crashLoopPeriod;
  }

  /**
   * Whether a broker that found or started this daemon restarts it when it fails.
   *
   * @return the supervision set with {@link Builder#keepAlive(Supervision)}, or empty
   */
  public Optional<Supervision> keepAlive() {
    return Optional.ofNullable(keepAlive);
  }

  /**
   * How long {@link Broker#ensureRunning} and {@link Broker#stop} wait for the spawn lock another
   * launcher holds before failing with {@link SpawnLockTimeoutException}.
   *
   * @return between zero (fail at once when the lock is taken) and 1 hour;
   *     {@link #DEFAULT_SPAWN_LOCK_PATIENCE} unless set
   */
  public Duration spawnLockPatience() {
    return spawnLockPatience;
  }

  /**
   * Whether a {@linkplain #javaMainClass() Java main class} daemon is started with the broker's
   * class-data sharing archive (default true; see the type's documentation). Ignored for a command.
   *
   * @return false only when {@link Builder#classDataSharing(boolean)} turned it off; even when true,
   *     no archive is used if the class path holds a directory or the JVM options control sharing
   */
  public boolean classDataSharing() {
    return classDataSharing;
  }

  /**
   * Whether the broker binds the endpoint itself and hands the listening socket to the daemon it
   * spawns ({@link Builder#listenerHandoff(boolean)}).
   *
   * @return true when turned on and on Linux (the hand-off reads procfs)
   */
  public boolean listenerHandoff() {
    return listenerHandoff && IS_LINUX;
  }

  /**
   * The directory the daemon starts in ({@link Builder#workingDirectory(Path)}).
   *
   * @return the directory set on the builder; empty means the runtime directory
   */
  public Optional<Path> workingDirectory() {
    return Optional.ofNullable(workingDirectory);
  }

  /**
   * What makes a running daemon usable for this launcher, name to value, sorted by name: by default
   * {@code java.home} (the real path of this JVM's home, which a {@code javaMain} daemon runs on),
   * {@code jvm.options} and {@code class.path} for a {@linkplain #javaMainClass() Java main class},
   * {@code command} for a command; then {@code env.NAME} for each variable chosen with
   * {@link Builder#compatibilityFromEnvironment}, and the author's own
   * {@linkplain Builder#compatibilityKey(String, String) keys}. Recorded in the daemon's lockfile and
   * answered in its {@code HELLO}; a daemon started with another key is not reused
   * ({@link #compatibilityPolicy()}).
   *
   * @return an unmodifiable map; empty when defaults were turned off and nothing was added
   */
  public Map<String, String> compatibilityKey() {
    return compatibilityKey;
  }

  /**
   * What a differing compatibility key makes the broker do.
   *
   * @return {@link CompatibilityPolicy#SIDE_BY_SIDE} unless the builder said otherwise
   */
  public CompatibilityPolicy compatibilityPolicy() {
    return compatibilityPolicy;
  }

  /**
   * At most this many daemons of the service run side by side (differing keys), the first included.
   *
   * @return 3 unless the builder said otherwise
   */
  public int maxSideBySide() {
    return maxSideBySide;
  }

  /**
   * The size past which the daemon's log ({@code SERVICE.log}) is rotated while the daemon runs.
   *
   * @return {@value #DEFAULT_LOG_LIMIT_BYTES} bytes unless the builder said otherwise; 0 for no bound
   */
  public long logLimitBytes() {
    return logLimitBytes;
  }

  /**
   * How many rotated logs ({@code SERVICE.log.1} …) are kept.
   *
   * @return {@value #DEFAULT_LOG_GENERATIONS} unless the builder said otherwise
   */
  public int logGenerations() {
    return logGenerations;
  }

  /** The compatibility key in canonical form, for the broker's internals. */
  String compatibilityText() {
    return compatibilityText;
  }

  static {
    // A class, not a method reference: a launcher's first call must not pay for the lambda machinery.
    dev.fastbind.broker.internal.DefinitionAccess.set(new CompatibilityText());
  }

  private static final class CompatibilityText implements java.util.function.Function<ServiceDefinition, String> {
    @Override
    public String apply(ServiceDefinition definition) {
      return definition.compatibilityText;
    }
  }

  private static final boolean IS_LINUX = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT)
      .startsWith("linux");

  @Override
  public String toString() {
    return "ServiceDefinition[" + name + ", "
        + (javaMainClass != null ? "java " + javaMainClass : "command " + command) + "]";
  }


  /** Builds a {@link ServiceDefinition}; exactly one of {@link #command} and {@link #javaMain} is required. */
  /**
   * The backend this service runs inside this JVM, when it runs in-process (see the class
   * documentation); empty for a daemon process.
   *
   * @return the supplier given to {@link Builder#inProcess}, called once per start
   */
  public Optional<java.util.function.Supplier<? extends dev.fastbind.backend.BrokeredBackend>> inProcessBackend() {
    return Optional.ofNullable(inProcess);
  }

  public static final class Builder {
    private final String name;
    private java.util.function.Supplier<? extends dev.fastbind.backend.BrokeredBackend> inProcess;
    private List<String> command = List.of();
    private String javaMainClass;
    private List<String> javaOptions = List.of();
    private List<String> arguments = List.of();
    private final Map<String, String> environment = new LinkedHashMap<>();
    private Path runtimeDirectory;
    private Duration probeBudget = DEFAULT_PROBE_BUDGET;
    private String version;
    private VersionPolicy versionPolicy = VersionPolicy.RESTART;
    private UnresponsivePolicy unresponsivePolicy = UnresponsivePolicy.REPORT;
    private int crashLoopSpawns = 3;
    private Duration crashLoopPeriod = Duration.ofSeconds(30);
    private Supervision keepAlive;
    private Duration spawnLockPatience = DEFAULT_SPAWN_LOCK_PATIENCE;
    private boolean classDataSharing = true;
    private boolean listenerHandoff = false;
    private Path workingDirectory;
    private final Map<String, String> compatibilityKeys = new java.util.TreeMap<>();
    private final List<String> compatibilityEnvironment = new java.util.ArrayList<>();
    private boolean defaultCompatibility = true;
    private CompatibilityPolicy compatibilityPolicy = CompatibilityPolicy.SIDE_BY_SIDE;
    private int maxSideBySide = 3;
    private long logLimitBytes = DEFAULT_LOG_LIMIT_BYTES;
    private int logGenerations = DEFAULT_LOG_GENERATIONS;

    private Builder(String name) {
      this.name = name;
    }

    /**
     * Starts the daemon with this command line; the first element is the program.
     *
     * @param command the program and its arguments, copied; not empty, no null element and no NUL byte
     * @return this builder
     * @throws IllegalArgumentException if the command is empty or an element contains a NUL byte
     */
    public Builder command(List<String> command) {
      Objects.requireNonNull(command, "command");
      if (command.isEmpty()) {
        throw new IllegalArgumentException("the command of service '" + name + "' is empty: name the program to run");
      }
      List<String> copy = new ArrayList<>(command.size());
      for (String part : command) {
        copy.add(noNul(Objects.requireNonNull(part, "command element"), "command"));
      }
      this.command = copy;
      return this;
    }

    /**
     * Starts the daemon with this command line; the first element is the program.
     *
     * @param command the program and its arguments, as for {@link #command(List)}
     * @return this builder
     * @throws IllegalArgumentException if the command is empty or an element contains a NUL byte
     */
    public Builder command(String... command) {
      return command(List.of(command));
    }

    /**
     * Starts the daemon by running {@code mainClass} in a new JVM: the current JVM's {@code java},
     * the current {@code java.class.path}, then {@code arguments}.
     *
     * @param mainClass the fully qualified name of the daemon's main class; not blank, not starting
     *     with {@code -}
     * @param arguments the arguments after the class name, copied; no null and no NUL byte
     * @return this builder
     * @throws IllegalArgumentException if the class name is blank or looks like an option, or an
     *     argument contains a NUL byte
     */
    public Builder javaMain(String mainClass, String... arguments) {
      Objects.requireNonNull(mainClass, "mainClass");
      if (mainClass.isBlank() || mainClass.startsWith("-")) {
        throw new IllegalArgumentException("invalid main class '" + mainClass + "' for service '" + name + "'");
      }
      this.javaMainClass = mainClass;
      List<String> args = new ArrayList<>();
      for (String a : arguments) {
        args.add(noNul(Objects.requireNonNull(a, "argument"), "arguments"));
      }
      this.arguments = args;
      return this;
    }

    /**
     * Runs the backend inside this JVM instead of spawning a daemon (see the class documentation):
     * {@link Broker#ensureRunning} calls {@code backend} once per start, binds it in a private
     * temporary directory and serves it on a daemon thread. Wins over a {@link #command} or
     * {@link #javaMain} given as well, so a {@code --no-daemon} flag is one conditional call.
     *
     * @param backend makes the backend; called on the thread that starts it, must not return null
     * @return this builder
     */
    public Builder inProcess(java.util.function.Supplier<? extends dev.fastbind.backend.BrokeredBackend> backend) {
      this.inProcess = Objects.requireNonNull(backend, "backend");
      return this;
    }

    /**
     * JVM options for a {@linkplain #javaMain Java main class} daemon, put before the class name.
     *
     * @param options the options, such as {@code -Xmx256m}, replacing any given before; no NUL byte.
     *     Options that control class-data sharing turn the broker's archive off
     * @return this builder
     * @throws IllegalArgumentException if an option contains a NUL byte
     */
    public Builder javaOptions(String... options) {
      List<String> opts = new ArrayList<>();
      for (String o : options) {
        opts.add(noNul(Objects.requireNonNull(o, "option"), "javaOptions"));
      }
      this.javaOptions = opts;
      return this;
    }

    /**
     * Adds an environment variable for the daemon; {@code FASTBIND_*} names are reserved.
     *
     * @param key the variable's name: not empty, no {@code =}, no NUL byte, not {@code FASTBIND_*}
     * @param value its value, possibly empty, no NUL byte; replaces an earlier value for {@code key}
     * @return this builder
     * @throws IllegalArgumentException if the name is empty, contains {@code =} or a NUL byte, or is
     *     reserved, or the value contains a NUL byte
     */
    public Builder environment(String key, String value) {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(value, "value");
      if (key.isEmpty() || key.indexOf('=') >= 0) {
        throw new IllegalArgumentException("invalid environment variable name '" + key + "'");
      }
      if (key.startsWith("FASTBIND_")) {
        throw new IllegalArgumentException("environment variable " + key
            + " is reserved: the broker sets FASTBIND_* itself");
      }
      environment.put(noNul(key, "environment"), noNul(value, "environment"));
      return this;
    }

    /**
     * Uses this runtime directory instead of the default; it must be absolute.
     *
     * @param directory the directory, normalized before it is kept; short, since socket paths in it
     *     must fit in {@value dev.fastbind.backend.Endpoint#LINUX_MAX_PATH_BYTES} bytes
     * @return this builder
     * @throws IllegalArgumentException if the path is relative
     */
    public Builder runtimeDirectory(Path directory) {
      Objects.requireNonNull(directory, "directory");
      if (!directory.isAbsolute()) {
        throw new IllegalArgumentException("the runtime directory must be an absolute path, got '" + directory + "'");
      }
      this.runtimeDirectory = directory.normalize();
      return this;
    }

    /**
     * Sets the probe budget (default 500 ms); between 1 ms and 10 minutes.
     *
     * @param budget how long a spawned daemon has to become connectable, and a running one to answer
     *     {@code HELLO}
     * @return this builder
     * @throws IllegalArgumentException if the budget is below 1 ms or above 10 minutes
     */
    public Builder probeBudget(Duration budget) {
      Objects.requireNonNull(budget, "budget");
      if (budget.compareTo(Duration.ofMillis(1)) < 0 || budget.compareTo(Duration.ofMinutes(10)) > 0) {
        throw new IllegalArgumentException("probe budget " + budget + " is out of range: use 1 ms to 10 minutes");
      }
      this.probeBudget = budget;
      return this;
    }

    /**
     * The daemon version this launcher expects; without it any version is accepted.
     *
     * @param version the version the daemon gives {@link Daemon.Builder#version}; an equal string
     *     matches, a different one goes to the {@link #versionPolicy version policy}, which orders
     *     versions as {@link VersionPolicy} says
     * @return this builder
     * @throws IllegalArgumentException if the version is blank or contains a NUL byte
     */
    public Builder version(String version) {
      Objects.requireNonNull(version, "version");
      if (version.isBlank()) {
        throw new IllegalArgumentException("version must not be blank");
      }
      this.version = noNul(version, "version");
      return this;
    }

    /**
     * What to do on a version mismatch (default {@link VersionPolicy#RESTART}: replace an older
     * daemon, keep a newer one).
     *
     * @param policy restart, fail, accept or restart even if newer; consulted only when a
     *     {@link #version} is set
     * @return this builder
     */
    public Builder versionPolicy(VersionPolicy policy) {
      this.versionPolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * What to do with an unresponsive daemon (default {@link UnresponsivePolicy#REPORT}).
     *
     * @param policy report it, or replace it
     * @return this builder
     */
    public Builder unresponsivePolicy(UnresponsivePolicy policy) {
      this.unresponsivePolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * At most {@code spawns} spawns per {@code period} (default 3 per 30 s), counted across launchers.
     *
     * @param spawns how many spawns the period may hold, at least 1; the next one is refused with
     *     {@link CrashLoopException}
     * @param period the sliding window, positive
     * @return this builder
     * @throws IllegalArgumentException if {@code spawns} is below 1 or {@code period} is not positive
     */
    public Builder crashLoopLimit(int spawns, Duration period) {
      Objects.requireNonNull(period, "period");
      if (spawns < 1) {
        throw new IllegalArgumentException("crash-loop limit must allow at least one spawn, got " + spawns);
      }
      if (period.isNegative() || period.isZero()) {
        throw new IllegalArgumentException("crash-loop period must be positive, got " + period);
      }
      this.crashLoopSpawns = spawns;
      this.crashLoopPeriod = period;
      return this;
    }

    /**
     * Keeps the daemon alive: a {@link Broker} that found or started it watches its process, and when
     * it fails (a crash, a kill, {@code serve} throwing; not a stop, a replacement, its idle timeout or
     * its own shutdown request) starts it again, within {@code supervision}'s budget. The budget is the
     * crash-loop limit, set here to {@code intensity + 1} spawns per {@code period}: it is counted in
     * the runtime directory, across every launcher process, and each restart counts once however many
     * launchers watched the death (the one that takes the spawn lock restarts; the others find it
     * running). Past the budget nobody restarts it, each watching broker reports it once on standard
     * error (and as {@code fastbind.pool.events} {@code gave-up} with a registry), and the next
     * {@code ensureRunning} throws {@link CrashLoopException}. A watching broker lives as long as its
     * JVM: when no launcher runs, nothing watches.
     *
     * <p>Because the budget is the crash-loop count, it counts every spawn in the window, not only
     * restarts after failures: the first start, a start after an idle exit, a version replacement. A
     * stop (by any launcher) clears it. So allow for those in {@code intensity}; a later
     * {@link #crashLoopLimit(int, Duration)} call replaces the limit set here, and a keepAlive call
     * after it replaces that one.
     *
     * @param supervision the budget; its strategy must be {@link Supervision.Strategy#ONE_FOR_ONE}
     *     (one daemon has no siblings)
     * @return this builder
     * @throws IllegalArgumentException for another strategy
     */
    public Builder keepAlive(Supervision supervision) {
      Objects.requireNonNull(supervision, "supervision");
      if (supervision.strategy() != Supervision.Strategy.ONE_FOR_ONE) {
        throw new IllegalArgumentException("a kept-alive daemon is supervised one-for-one, got "
            + supervision.strategy());
      }
      this.keepAlive = supervision;
      this.crashLoopSpawns = supervision.intensity() + 1;
      this.crashLoopPeriod = supervision.period();
      return this;
    }

    /**
     * How long to wait for the spawn lock while another launcher starts or stops the daemon (default
     * {@link #DEFAULT_SPAWN_LOCK_PATIENCE}); zero fails at once when the lock is taken. Between 0 and
     * 1 hour. Keep it above the probe budget plus the stop grace: a holder legitimately keeps the lock
     * that long.
     *
     * @param patience how long to wait for the lock, from zero to 1 hour
     * @return this builder
     * @throws IllegalArgumentException if the patience is negative or above 1 hour
     */
    public Builder spawnLockPatience(Duration patience) {
      Objects.requireNonNull(patience, "patience");
      if (patience.isNegative() || patience.compareTo(Duration.ofHours(1)) > 0) {
        throw new IllegalArgumentException("spawn-lock patience " + patience + " is out of range: use 0 to 1 hour");
      }
      this.spawnLockPatience = patience;
      return this;
    }

    /**
     * Whether to start a {@linkplain #javaMain Java main class} daemon with a class-data sharing
     * archive in the runtime directory (default true).
     *
     * <p>With it, the first start writes {@code <service>.<key>.jsa} when the daemon stops normally,
     * and later starts map the daemon's classes from it: on the machine of the project's
     * docs/performance.md that takes tens of milliseconds off every cold start, and a stop that writes
     * the archive takes a few hundred milliseconds longer. A missing, stale or damaged archive never
     * keeps a daemon from starting (it starts without, and a new archive is written). Turn it off when
     * the runtime directory must hold nothing but sockets and lockfiles, when the daemon's stops must
     * be as fast as possible, or to manage sharing yourself with {@link #javaOptions}; options such as
     * {@code -Xshare:off}, {@code -XX:SharedArchiveFile} or {@code -XX:AOTCache} there turn it off by
     * themselves. Has no effect on a {@linkplain #command command} daemon.
     *
     * @param enabled false to start the daemon without the broker's archive
     * @return this builder
     */
    public Builder classDataSharing(boolean enabled) {
      this.classDataSharing = enabled;
      return this;
    }

    /**
     * Whether the broker binds the service's endpoint itself, under the spawn lock, and hands the
     * listening socket to the daemon it spawns (Linux only; default false for now: the README's
     * "Broker-owned bind" says what the measurements show). {@link Broker#ensureRunning}
     * then returns as soon as the endpoint is bound and the daemon's process runs
     * ({@link DaemonInfo.Stage#BOUND}): a launcher connects at once and its bytes wait in the
     * socket's backlog until the daemon accepts. The daemon takes the socket over a rendezvous in the
     * runtime directory (see the README, "Broker-owned bind"); a {@linkplain #command command} daemon
     * not built on the SDK receives it the same way, or, if it ignores {@code FASTBIND_HANDOFF}, binds
     * nothing and fails, so turn this off for such a daemon. Off, the daemon binds the endpoint
     * itself and {@code ensureRunning} returns once it announced that it serves.
     *
     * @param enabled false to let the daemon bind its own endpoint
     * @return this builder
     */
    public Builder listenerHandoff(boolean enabled) {
      this.listenerHandoff = enabled;
      return this;
    }

    /**
     * Adds {@code name=value} to the compatibility key ({@link ServiceDefinition#compatibilityKey()}):
     * a tool version, a configuration hash, anything that makes a daemon unusable for a launcher
     * that differs. Hash large values first; the whole key is at most 16 KiB.
     *
     * @param name lowercase letters, digits, {@code .}, {@code _} and {@code -}
     * @param value any text without NUL
     * @return this builder
     * @throws IllegalArgumentException if the name is invalid or one the broker sets itself
     */
    public Builder compatibilityKey(String name, String value) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(value, "value");
      dev.fastbind.backend.internal.wire.Compatibility.canonical(Map.of(name, value)); // checks the name
      if (name.equals("java.home") || name.equals("jvm.options") || name.equals("class.path")
          || name.equals("command") || name.startsWith("env.")) {
        throw new IllegalArgumentException("compatibility key '" + name + "' is one the broker sets itself;"
            + " choose another name (defaults can be turned off with defaultCompatibilityKey(false))");
      }
      compatibilityKeys.put(name, noNul(value, "a compatibility value"));
      return this;
    }

    /**
     * Adds the values of environment variables to the compatibility key, as {@code env.name}
     * (lowercased; {@code (unset)} when absent), read when the definition is built: a daemon started
     * under another value is not reused.
     *
     * @param names the variables, such as {@code "LANG"}
     * @return this builder
     */
    public Builder compatibilityFromEnvironment(String... names) {
      for (String n : names) {
        compatibilityEnvironment.add(Objects.requireNonNull(n, "name"));
      }
      return this;
    }

    /**
     * Whether the key starts with the broker's defaults ({@code java.home}, {@code jvm.options},
     * {@code class.path}, or {@code command}); default true. Turn them off to reuse a daemon across
     * JDKs or class paths on purpose.
     *
     * @param enabled false to leave only the keys added explicitly
     * @return this builder
     */
    public Builder defaultCompatibilityKey(boolean enabled) {
      this.defaultCompatibility = enabled;
      return this;
    }

    /**
     * What a running daemon with another compatibility key makes the broker do (default
     * {@link CompatibilityPolicy#SIDE_BY_SIDE}).
     *
     * @param policy side by side, or replace
     * @return this builder
     */
    public Builder compatibilityPolicy(CompatibilityPolicy policy) {
      this.compatibilityPolicy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * Bounds the daemon's log while it runs (default {@value ServiceDefinition#DEFAULT_LOG_LIMIT_BYTES}
     * bytes and {@value ServiceDefinition#DEFAULT_LOG_GENERATIONS} generations). The daemon's
     * bootstrap looks at the log's size five times a second (down to every 5 ms while it grows fast)
     * and, past {@code bytes}, copies it to {@code SERVICE.log.1} (shifting older generations,
     * dropping the oldest) and truncates it in place, so output written straight to file
     * descriptors 1 and 2 is bounded too. Copy-truncate, because those descriptors were opened
     * {@code O_APPEND} by the broker and are shared with anything the daemon started: after the
     * truncation they go on at offset 0. Lines written during the copy can be lost; the live file
     * can exceed {@code bytes} by what the daemon writes between two looks.
     *
     * @param bytes the live log's limit; 0 for no bound while running
     * @param generations how many older files to keep, 0 to 100
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative or {@code generations} out of range
     */
    public Builder logLimit(long bytes, int generations) {
      if (bytes < 0 || generations < 0 || generations > 100) {
        throw new IllegalArgumentException("logLimit needs bytes >= 0 (0: no bound) and generations within 0..100, got "
            + bytes + " and " + generations);
      }
      this.logLimitBytes = bytes;
      this.logGenerations = generations;
      return this;
    }

    /**
     * At most {@code count} daemons of the service side by side (default 3); starting one more stops
     * the one idle longest.
     *
     * @param count at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code count} is below 1
     */
    public Builder maxSideBySide(int count) {
      if (count < 1) {
        throw new IllegalArgumentException("maxSideBySide must be at least 1, got " + count);
      }
      this.maxSideBySide = count;
      return this;
    }

    /**
     * The directory the daemon starts in. Default: the runtime directory, so that a daemon does not
     * keep the launcher's current directory busy (an unmountable USB stick, a deleted checkout) for
     * as long as it runs, and relative paths it writes land among its own files. A daemon that reads
     * files relative to a project should be given absolute paths rather than a working directory:
     * one daemon serves launchers started in many directories.
     *
     * @param directory an absolute path to an existing directory; checked when the daemon is spawned
     * @return this builder
     * @throws IllegalArgumentException if {@code directory} is not absolute
     */
    public Builder workingDirectory(Path directory) {
      Objects.requireNonNull(directory, "directory");
      if (!directory.isAbsolute()) {
        throw new IllegalArgumentException("the working directory must be an absolute path, got '" + directory + "'");
      }
      this.workingDirectory = directory.normalize();
      return this;
    }

    /**
     * Builds the definition.
     *
     * @return an immutable definition; the builder may be changed and built again
     * @throws IllegalStateException if neither or both of a command and a Java main class were given
     *     (with {@link #inProcess} neither is needed, and still not both), or JVM options were given for
     *     a command
     */
    public ServiceDefinition build() {
      boolean hasCommand = !command.isEmpty();
      boolean hasMain = javaMainClass != null;
      if (hasCommand == hasMain && !(inProcess != null && !hasCommand)) {
        throw new IllegalStateException("service '" + name + "' needs exactly one way to start: "
            + "command(...), javaMain(...) or inProcess(...)" + (hasCommand ? "; not both of command and javaMain" : ""));
      }
      if (hasCommand && (!javaOptions.isEmpty())) {
        throw new IllegalStateException("service '" + name + "': javaOptions apply only to javaMain(...)");
      }
      return new ServiceDefinition(this);
    }

    private static String noNul(String s, String what) {
      if (s.indexOf('\0') >= 0) {
        throw new IllegalArgumentException(what + " must not contain a NUL byte");
      }
      return s;
    }
  }
}
