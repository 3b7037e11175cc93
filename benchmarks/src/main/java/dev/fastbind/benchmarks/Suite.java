package dev.fastbind.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.annotations.Mode;

/**
 * The whole benchmark run behind {@code benchmarks/run}: the C floor, the JMH benchmarks and the
 * cold-start harness on one JDK and one socket directory, reported as ONE table of figures, floors
 * measured in the same run, ratios and targets.
 *
 * <p>Arguments: {@code --quick} or {@code --full}; {@code --floor=PATH} (the compiled C floor);
 * {@code --classpath=CP} (the thin SDK class path for the cold-start harness); {@code --out=DIR}
 * (where JMH's and the harness's own output go); {@code --only=client} (only the client harness,
 * {@link ClientStart}, and only its rows). The socket directory is the system property
 * {@value SocketDirectory#PROPERTY}. A missed target is reported, never a failure: the exit status
 * is non-zero only when a step could not run at all.
 */
public final class Suite {

  private static final long STEP_TIMEOUT_SECONDS = 600;

  private final boolean full;
  private final Path floorBinary;
  private final String thinClassPath;
  private final Path outDir;
  private final Map<String, Double> floor = new HashMap<>();
  private final Map<String, RunResult> jmh = new HashMap<>();
  private final Map<String, String> cold = new LinkedHashMap<>();
  private final Map<String, String> client = new LinkedHashMap<>();
  /** The worker-pool harness's figures ({@link PoolHarness}). */
  private final Map<String, String> pool = new java.util.HashMap<>();
  /** {@code --only=client}: only the client harness, and only its rows in the table. */
  private boolean onlyClient;
  private final List<String> problems = new ArrayList<>();
  /** What could not be measured on this JDK without anything being broken (printed, never a failure). */
  private final List<String> notes = new ArrayList<>();

  private Suite(boolean full, Path floorBinary, String thinClassPath, Path outDir) {
    this.full = full;
    this.floorBinary = floorBinary;
    this.thinClassPath = thinClassPath;
    this.outDir = outDir;
  }

  /** Runs everything and prints the table; see the type's documentation. */
  public static void main(String[] args) throws Exception {
    boolean full = false;
    Path floorBinary = null;
    String cp = null;
    Path out = Path.of("benchmarks/target/results");
    String only = null;
    for (String a : args) {
      if (a.equals("--full")) {
        full = true;
      } else if (a.equals("--quick")) {
        full = false;
      } else if (a.startsWith("--floor=")) {
        floorBinary = Path.of(a.substring("--floor=".length()));
      } else if (a.startsWith("--classpath=")) {
        cp = a.substring("--classpath=".length());
      } else if (a.startsWith("--out=")) {
        out = Path.of(a.substring("--out=".length()));
      } else if (a.equals("--only=client")) {
        only = "client";
      } else {
        throw new IllegalArgumentException("unknown argument " + a);
      }
    }
    Files.createDirectories(out);
    Suite suite = new Suite(full, floorBinary, cp, out);
    suite.onlyClient = "client".equals(only);
    if (!suite.onlyClient) {
      suite.runFloor();
      suite.runJmh();
      suite.runColdStart();
    }
    suite.runClientStart();
    if (!suite.onlyClient) {
      suite.runPool();
    }
    progress("done");
    suite.printTable();
  }

  private static final long STARTED = System.nanoTime();

  private static void progress(String message) {
    System.err.printf(Locale.ROOT, "[benchmarks] %5.1f s  %s%n", (System.nanoTime() - STARTED) / 1e9, message);
  }

  private void runFloor() throws IOException, InterruptedException {
    if (floorBinary == null || !Files.isExecutable(floorBinary)) {
      problems.add("no C floor binary (" + floorBinary + "): ratios against it are missing");
      return;
    }
    Path dir = SocketDirectory.create("fb-floor");
    try {
      progress("C floor in " + dir);
      String output = runChild(List.of(floorBinary.toString(), dir.toString(), full ? "200000" : "30000"), "floor");
      for (String line : output.split("\n")) {
        int eq = line.indexOf('=');
        if (eq > 0) {
          floor.put(line.substring(0, eq), Double.parseDouble(line.substring(eq + 1).trim()));
        }
      }
    } finally {
      SocketDirectory.deleteTree(dir);
    }
  }

  private void runJmh() throws RunnerException {
    String jdkTag = "jdk" + Runtime.version().feature();
    String dirArg = "-D" + SocketDirectory.PROPERTY + "=" + SocketDirectory.base();
    ChainedOptionsBuilder warm = warm(dirArg, full ? 1000 : 600, "jmh-warm-" + jdkTag)
        .include(BindBenchmark.class.getName() + "\\.")
        .include(ProbeBenchmark.class.getName() + "\\.")
        .include(LockfileBenchmark.class.getName() + "\\.")
        .include(HelloBenchmark.class.getName() + "\\.");
    progress("JMH warm benchmarks (" + (full ? "full" : "quick") + "), log in " + outDir);
    collect(new Runner(warm.build()).run(), "");
    // The hot path needs seconds, not milliseconds, to reach its steady state on two busy cores: its
    // fork compiles while the daemon it probes takes the other core to accept every connection.
    collect(new Runner(warm(dirArg, full ? 1000 : 2000, "jmh-hot-" + jdkTag)
        .include(HotPathBenchmark.class.getName() + "\\.").build()).run(), "");
    // The request loop against a raw channel: both sides in one fork and one daemon, so the ratio
    // compares the SDK with the JDK under the same load; it too needs seconds to settle.
    progress("JMH request loop round trip against a raw JDK channel");
    collect(new Runner(warm(dirArg, full ? 1000 : 2000, "jmh-loop-" + jdkTag)
        .include(LoopBenchmark.class.getName() + "\\.").build()).run(), "");
    progress("JMH first bind in fresh JVMs");
    collect(new Runner(firstBind(".", full ? 15 : 5, List.of(dirArg), "jmh-first-" + jdkTag).build()).run(), "");
    // The same in JVMs that map a class-data sharing archive, as the broker starts a Java daemon by
    // default: one unmeasured fork per benchmark writes its archive, then the measured forks map it.
    int feature = Runtime.version().feature();
    for (String method : List.of("fastbind", "jdk")) {
      Path archive = outDir.resolve("first-bind-" + method + "-" + jdkTag + ".jsa");
      try {
        Files.deleteIfExists(archive);
      } catch (IOException e) {
        problems.add("cannot delete the old archive " + archive + ": " + e);
        continue;
      }
      String name = "\\." + method + "$";
      List<String> writing = feature >= 19
          ? List.of(dirArg, "-XX:+AutoCreateSharedArchive", "-XX:SharedArchiveFile=" + archive, "-Xlog:cds*=off")
          : List.of(dirArg, "-XX:ArchiveClassesAtExit=" + archive, "-Xlog:cds*=off");
      List<String> mapping = feature >= 19 ? writing : List.of(dirArg, "-XX:SharedArchiveFile=" + archive, "-Xlog:cds*=off");
      new Runner(firstBind(name, 1, writing, "jmh-first-cds-prime-" + method + "-" + jdkTag).build()).run();
      if (!Files.isRegularFile(archive)) {
        // a JDK without a default CDS archive (some builds ship none) cannot write one: not a failure
        notes.add("the priming fork wrote no archive " + archive + " (does this JDK have a default CDS"
            + " archive?); first bind with CDS not measured; see " + outDir);
        continue;
      }
      collect(new Runner(firstBind(name, full ? 15 : 5, mapping, "jmh-first-cds-" + method + "-" + jdkTag).build()).run(),
          "_cds");
    }
  }

  /** Sample-time options for the warm benchmarks; quick mode warms up once for {@code quickWarmupMillis}. */
  private ChainedOptionsBuilder warm(String dirArg, int quickWarmupMillis, String log) {
    return new OptionsBuilder()
        .mode(Mode.SampleTime)
        .timeUnit(TimeUnit.MICROSECONDS)
        .forks(full ? 2 : 1)
        .warmupIterations(full ? 3 : 1)
        .warmupTime(TimeValue.milliseconds(full ? 1000 : quickWarmupMillis))
        .measurementIterations(full ? 5 : 2)
        .measurementTime(TimeValue.milliseconds(full ? 1000 : 300))
        .jvmArgsAppend(dirArg)
        .shouldFailOnError(false)
        .output(outDir.resolve(log + ".txt").toString());
  }

  /** Single-shot first-bind forks of the FirstBindBenchmark methods matching {@code method}. */
  private ChainedOptionsBuilder firstBind(String method, int forks, List<String> jvmArgs, String log) {
    return new OptionsBuilder()
        .include(FirstBindBenchmark.class.getName() + method)
        .mode(Mode.SingleShotTime)
        .timeUnit(TimeUnit.MILLISECONDS)
        .forks(forks)
        .warmupIterations(0)
        .measurementIterations(1)
        .measurementBatchSize(1)
        .jvmArgsAppend(jvmArgs.toArray(String[]::new))
        .shouldFailOnError(false)
        .output(outDir.resolve(log + ".txt").toString());
  }

  private void collect(Collection<RunResult> results, String suffix) {
    for (RunResult r : results) {
      String name = r.getParams().getBenchmark();
      jmh.put(name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1) + suffix, r);
    }
  }

  private void runColdStart() throws IOException, InterruptedException {
    if (thinClassPath == null) {
      problems.add("no --classpath: cold-start harness skipped");
      return;
    }
    progress("cold-start harness");
    List<String> cmd = harnessCommand(List.of(), ColdStart.class);
    cmd.add(full ? "--runs=25" : "--runs=8");
    cmd.add(full ? "--race=16" : "--race=4");
    cmd.add(full ? "--race-rounds=3" : "--race-rounds=1");
    cmd.add(full ? "--replacements=3" : "--replacements=1");
    cmd.add("--connects=2000");
    if (full) {
      cmd.add("--aot"); // JDK 25+ only; the harness skips it elsewhere
    }
    String output = runChild(cmd, "coldstart");
    putFigures(output, cold);
  }

  /**
   * The client harness ({@link ClientStart}): a launcher making one client call beside a raw-connect
   * JVM doing the same exchange, and the idle resident set of an SDK daemon beside a bare JVM.
   */
  private void runClientStart() throws IOException, InterruptedException {
    if (thinClassPath == null) {
      problems.add("no --classpath: client harness skipped");
      return;
    }
    progress("client harness: launcher with one client call, idle daemon memory");
    List<String> cmd = harnessCommand(List.of(), ClientStart.class);
    cmd.add(full ? "--runs=40" : "--runs=8");
    cmd.add(full ? "--warm=200" : "--warm=25");
    cmd.add("--smaps=" + outDir);
    if (full) {
      cmd.add("--archived"); // two more JVMs a round: full mode only, to keep --quick cheap
    }
    String output = runChild(cmd, "clientstart");
    putFigures(output, client);
  }

  /** The worker-pool harness ({@link PoolHarness}): restart against cold start, pool call against client call. */
  private void runPool() throws IOException, InterruptedException {
    if (thinClassPath == null) {
      problems.add("no --classpath: pool harness skipped");
      return;
    }
    progress("pool harness: crash to next served call");
    runPoolPart(List.of(), full ? "--runs=25" : "--runs=8", "--calls=0", "pool-restart");
    // The calls pinned to one CPU (see PoolHarness): the JVM and both daemons it starts inherit it.
    Path taskset = Path.of("/usr/bin/taskset");
    String cpu = lastAllowedCpu();
    List<String> pin = Files.isExecutable(taskset) && cpu != null ? List.of(taskset.toString(), "-c", cpu) : List.of();
    if (pin.isEmpty()) {
      notes.add("no /usr/bin/taskset (util-linux) or no CPU list in /proc/self/status: the pool's call figures are unpinned and swing with scheduling");
    }
    progress("pool harness: a call through the pool against a DaemonClient call" + (pin.isEmpty() ? "" : ", one CPU"));
    runPoolPart(pin, "--runs=0", full ? "--calls=50000" : "--calls=20000", "pool-calls");
  }

  /** The highest CPU this process may run on ({@code Cpus_allowed_list} in procfs), or null. */
  private static String lastAllowedCpu() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"), StandardCharsets.US_ASCII)) {
        if (line.startsWith("Cpus_allowed_list:")) {
          String[] parts = line.substring(line.indexOf(':') + 1).trim().split("[,-]");
          String last = parts[parts.length - 1].trim();
          return last.matches("[0-9]+") ? last : null;
        }
      }
    } catch (IOException | RuntimeException e) {
      return null;
    }
    return null;
  }

  private void runPoolPart(List<String> prefix, String runs, String calls, String name)
      throws IOException, InterruptedException {
    List<String> cmd = harnessCommand(prefix, PoolHarness.class);
    cmd.add(runs);
    cmd.add(calls);
    String output = runChild(cmd, name);
    putFigures(output, pool);
  }

  private OptionalDouble poolOf(String key) {
    String v = pool.get(key);
    return v == null ? OptionalDouble.empty() : OptionalDouble.of(Double.parseDouble(v));
  }

  private OptionalDouble clientOf(String key) {
    String v = client.get(key);
    return v == null ? OptionalDouble.empty() : OptionalDouble.of(Double.parseDouble(v));
  }

  /** A resident-set figure of the client harness in MiB; {@code minus} is subtracted when given. */
  private OptionalDouble mib(String key, String minus) {
    OptionalDouble v = clientOf(key);
    OptionalDouble m = minus == null ? OptionalDouble.of(0) : clientOf(minus);
    return v.isPresent() && m.isPresent() ? OptionalDouble.of((v.getAsDouble() - m.getAsDouble()) / 1024) : OptionalDouble.empty();
  }

  /**
   * The command line of a harness JVM: {@code prefix} (such as {@code taskset}), this JDK's
   * {@code java} with the harnesses' JVM flags and socket directory, the thin class path, {@code main}.
   */
  private List<String> harnessCommand(List<String> prefix, Class<?> main) {
    List<String> cmd = new ArrayList<>(prefix);
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(ColdStart.JVM_FLAGS);
    cmd.add("-D" + SocketDirectory.PROPERTY + "=" + SocketDirectory.base());
    cmd.add("-cp");
    cmd.add(thinClassPath);
    cmd.add(main.getName());
    return cmd;
  }

  /** Puts a harness's {@code key=value} lines (a key has no space) into {@code figures}. */
  private static void putFigures(String output, Map<String, String> figures) {
    for (String line : output.split("\n")) {
      int eq = line.indexOf('=');
      if (eq > 0 && !line.contains(" ")) {
        figures.put(line.substring(0, eq), line.substring(eq + 1).trim());
      }
    }
  }

  /** Runs a child with a bounded lifetime; stdout is returned, stderr goes to a log in the out dir. */
  private String runChild(List<String> command, String name) throws IOException, InterruptedException {
    String tag = name + "-jdk" + Runtime.version().feature();
    Path stdout = outDir.resolve(tag + ".out");
    Path stderr = outDir.resolve(tag + ".err");
    Process p = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    if (!p.waitFor(STEP_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
      problems.add(name + " did not finish within " + STEP_TIMEOUT_SECONDS + " s and was killed");
    } else if (p.exitValue() != 0) {
      problems.add(name + " exited with status " + p.exitValue() + "; see " + stderr);
    }
    return Files.readString(stdout, StandardCharsets.UTF_8);
  }

  private OptionalDouble percentile(String benchmark, double p) {
    RunResult r = jmh.get(benchmark);
    if (r == null || r.getPrimaryResult().getStatistics().getN() == 0) {
      return OptionalDouble.empty();
    }
    return OptionalDouble.of(p == 0 ? r.getPrimaryResult().getStatistics().getMean()
        : r.getPrimaryResult().getStatistics().getPercentile(p));
  }

  private OptionalDouble floorOf(String key) {
    Double v = floor.get(key);
    return v == null ? OptionalDouble.empty() : OptionalDouble.of(v);
  }

  private OptionalDouble coldOf(String key) {
    String v = cold.get(key);
    return v == null ? OptionalDouble.empty() : OptionalDouble.of(Double.parseDouble(v));
  }

  private void printTable() {
    Table t = new Table();
    if (!onlyClient) {
      mainRows(t);
    }
    clientRows(t);
    if (!onlyClient) {
      // A worker's kill -9 to the next call the pool serves, beside a cold start through the broker;
      // a call through a pool of one beside the same call through a DaemonClient to a brokered daemon.
      t.ratio("worker crash to next served call p50 (ms)", poolOf("pool_restart_p50_ms"), poolOf("pool_cold_p50_ms"), "cold start + first call p50", 1.1);
      t.ratio("call through a worker pool p50, one CPU (us)", poolOf("pool_call_p50_us"), poolOf("pool_brokered_call_p50_us"), "client call, brokered daemon p50", 1.05);
      t.ratio("call through a worker pool p99, one CPU (us)", poolOf("pool_call_p99_us"), poolOf("pool_brokered_call_p99_us"), "client call, brokered daemon p99", 0);
    }
    print(t);
  }

  private void clientRows(Table t) {
    // A fresh launcher JVM making one DaemonClient call (its ensureRunning finds the daemon up) beside
    // a fresh JVM doing a raw connect to the same endpoint and the same exchange: the SDK's own cost.
    t.ratio("launcher process, one client call, daemon up, p50 (ms)", clientOf("client_launcher_p50_ms"), clientOf("client_raw_p50_ms"), "raw connect+exchange p50", 1.05);
    t.ratio("launcher process, one client call, daemon up, p90 (ms)", clientOf("client_launcher_p90_ms"), clientOf("client_raw_p90_ms"), "raw connect+exchange p90", 0);
    if (client.containsKey("client_launcher_cds_p50_ms")) { // full mode only
      t.ratio("launcher process, one client call, own CDS archive, p50 (ms)", clientOf("client_launcher_cds_p50_ms"), clientOf("client_raw_cds_p50_ms"), "raw, own CDS p50", 0);
    }
    t.ratio("raw connect+exchange JVM p50 (ms)", clientOf("client_raw_p50_ms"), clientOf("client_hello_p50_ms"), "hello JVM p50", 0);
    t.ratio("classes loaded, launcher with one client call (count)", clientOf("client_launcher_classes"), clientOf("client_raw_classes"), "raw connect+exchange", 0);
    t.ratio("classes not from an archive, launcher with one client call (count)", clientOf("client_launcher_classes_unshared"), clientOf("client_raw_classes_unshared"), "raw connect+exchange", 0);
    // Idle resident sets, both warmed alike; the SDK daemon with the same JVM options as the bare one.
    t.absolute("idle daemon RSS over a bare JVM that binds and accepts (MiB)", mib("idle_sdk_rss_kib", "idle_bare_rss_kib"), mib("idle_bare_rss_kib", null), "bare JVM RSS", 8, "<= 8 MiB");
    t.ratio("idle daemon RSS, SDK + RequestLoop (MiB)", mib("idle_sdk_rss_kib", null), mib("idle_bare_rss_kib", null), "bare JVM RSS", 0);
    t.ratio("idle daemon anonymous RSS, SDK + RequestLoop (MiB)", mib("idle_sdk_rss_anon_kib", null), mib("idle_bare_rss_anon_kib", null), "bare JVM anon", 0);
    t.ratio("idle daemon threads, SDK + RequestLoop (count)", clientOf("idle_sdk_threads"), clientOf("idle_bare_threads"), "bare JVM threads", 0);
    t.ratio("idle daemon RSS, broker default (its CDS archive) (MiB)", mib("idle_sdk_cds_rss_kib", null), mib("idle_bare_rss_kib", null), "bare JVM RSS", 0);
  }

  private void mainRows(Table t) {
    t.ratio("bind cycle p50, fastbind (us)", percentile("BindBenchmark.fastbind", 50), floorOf("bind_p50_us"), "C bind p50", 1.2);
    t.ratio("bind cycle p99, fastbind (us)", percentile("BindBenchmark.fastbind", 99), floorOf("bind_p99_us"), "C bind p99", 2.0);
    t.ratio("bind cycle p99.9, fastbind (us)", percentile("BindBenchmark.fastbind", 99.9), floorOf("bind_p999_us"), "C bind p99.9", 0);
    t.ratio("bind cycle p50, raw JDK (us)", percentile("BindBenchmark.jdk", 50), floorOf("bind_p50_us"), "C bind p50", 0);
    t.ratio("bind cycle p50, raw junixsocket (us)", percentile("BindBenchmark.junixsocket", 50), floorOf("bind_p50_us"), "C bind p50", 0);
    t.ratio("connect p50, raw JDK (us)", percentile("ProbeBenchmark.jdkConnect", 50), floorOf("connect_p50_us"), "C connect p50", 0);
    t.ratio("connect probe p50, broker (us)", percentile("ProbeBenchmark.brokerProbe", 50), floorOf("connect_p50_us"), "C connect p50", 0);
    t.absolute("hot path ensureRunning p50 (us)", percentile("HotPathBenchmark.ensureRunning", 50), floorOf("connect_p50_us"), "C connect p50", 25, "< 25 us");
    t.ratio("hot path ensureRunning p99 (us)", percentile("HotPathBenchmark.ensureRunning", 99), floorOf("connect_p99_us"), "C connect p99", 0);
    t.ratio("lockfile read p50 (us)", percentile("LockfileBenchmark.read", 50), OptionalDouble.empty(), "", 0);
    t.ratio("lockfile write p50, fsync'd (us)", percentile("LockfileBenchmark.write", 50), OptionalDouble.empty(), "", 0);
    t.ratio("HELLO round trip p50 (us)", percentile("HelloBenchmark.hello", 50), floorOf("connect_p50_us"), "C connect p50", 0);
    t.ratio("request round trip p50, DaemonClient + RequestLoop (us)", percentile("LoopBenchmark.client", 50), percentile("LoopBenchmark.raw", 50), "raw JDK channel p50", 1.2);
    t.ratio("request round trip p99, DaemonClient + RequestLoop (us)", percentile("LoopBenchmark.client", 99), percentile("LoopBenchmark.raw", 99), "raw JDK channel p99", 0);
    // A Java daemon the broker starts maps a class-data sharing archive (the default): that is the target row.
    t.absolute("first bind, fresh JVM with CDS archive, mean (ms)", percentile("FirstBindBenchmark.fastbind_cds", 0), percentile("FirstBindBenchmark.jdk_cds", 0), "raw JDK, CDS", 5, "< 5 ms");
    t.ratio("first bind, fresh JVM with CDS, raw JDK mean (ms)", percentile("FirstBindBenchmark.jdk_cds", 0), OptionalDouble.empty(), "", 0);
    t.ratio("first bind, fresh JVM, no CDS, mean (ms)", percentile("FirstBindBenchmark.fastbind", 0), percentile("FirstBindBenchmark.jdk", 0), "raw JDK", 0);
    t.ratio("first bind, fresh JVM, no CDS, raw JDK mean (ms)", percentile("FirstBindBenchmark.jdk", 0), OptionalDouble.empty(), "", 0);
    // The broker's default: the daemon maps its class-data sharing archive. The floor is a bare JVM start.
    t.ratio("cold spawn to ready p50, default (daemon CDS) (ms)", coldOf("cds_cold_p50_ms"), coldOf("hello_p50_ms"), "hello JVM p50", 1.3);
    t.ratio("cold spawn to ready p90, default (daemon CDS) (ms)", coldOf("cds_cold_p90_ms"), coldOf("hello_p90_ms"), "hello JVM p90", 0);
    t.ratio("cold spawn to ready p50, default (daemon CDS) (ms)", coldOf("cds_cold_p50_ms"), coldOf("hello_own_p50_ms"), "hello+CDS p50", 0);
    t.ratio("cold spawn to ready p50, no CDS (ms)", coldOf("cold_p50_ms"), coldOf("hello_p50_ms"), "hello JVM p50", 0);
    t.ratio("cold spawn to ready p90, no CDS (ms)", coldOf("cold_p90_ms"), coldOf("hello_p90_ms"), "hello JVM p90", 0);
    if (cold.containsKey("aot_cold_p50_ms")) {
      t.ratio("cold spawn to ready p50, daemon AOT cache, opt-in (ms)", coldOf("aot_cold_p50_ms"), coldOf("aot_hello_p50_ms"), "hello JVM p50", 0);
      t.ratio("stop that assembles the AOT cache (ms)", coldOf("aot_training_stop_ms"), OptionalDouble.empty(), "", 0);
    }
    // The launcher's own JVM flags are its author's: plain, and with an archive of its own.
    t.ratio("launcher process, daemon up, p50 (ms)", coldOf("launcher_p50_ms"), coldOf("launcher_hello_p50_ms"), "hello JVM p50", 1.15);
    t.ratio("launcher process, own CDS, p50 (ms)", coldOf("cds_launcher_p50_ms"), coldOf("launcher_hello_p50_ms"), "hello JVM p50", 0);
    t.ratio("launcher process, own CDS, p50 (ms)", coldOf("cds_launcher_p50_ms"), coldOf("launcher_hello_own_p50_ms"), "hello+CDS p50", 0);
    // The listener hand-off beside the broker's default, in the same rounds, on the same answering
    // daemon (its CDS archive on): each variant is the other's floor.
    t.absolute("cold ensureRunning p50, hand-off (ms)", coldOf("ho_ensure_p50_ms"), coldOf("answer_ensure_p50_ms"), "no hand-off p50", 5, "<= 5 ms");
    t.ratio("cold ensureRunning p90, hand-off (ms)", coldOf("ho_ensure_p90_ms"), coldOf("answer_ensure_p90_ms"), "no hand-off p90", 0);
    t.ratio("cold ensureRunning p50, no hand-off (ms)", coldOf("answer_ensure_p50_ms"), coldOf("hello_p50_ms"), "hello JVM p50", 0);
    t.ratio("cold call to first answer p50, hand-off (ms)", coldOf("ho_first_p50_ms"), coldOf("answer_first_p50_ms"), "no hand-off p50", 0);
    t.ratio("cold call to first answer p90, hand-off (ms)", coldOf("ho_first_p90_ms"), coldOf("answer_first_p90_ms"), "no hand-off p90", 0);
    t.ratio("cold call to first answer p50, no hand-off (ms)", coldOf("answer_first_p50_ms"), coldOf("hello_p50_ms"), "hello JVM p50", 0);
    String race = "race of " + cold.getOrDefault("race_n", "?") + " launchers";
    String races = cold.getOrDefault("race_rounds", "1").equals("1") ? "" : " p50 of " + cold.get("race_rounds");
    t.ratio(race + ", all printed, hand-off" + races + " (ms)", coldOf("ho_race_printed_p50_ms"), coldOf("race_printed_p50_ms"), "no hand-off", 0);
    t.ratio(race + ", all printed, no hand-off" + races + " (ms)", coldOf("race_printed_p50_ms"), coldOf("answer_ensure_p50_ms"), "cold spawn p50", 0);
    t.ratio(race + ", all exited, hand-off" + races + " (ms)", coldOf("ho_race_exited_p50_ms"), coldOf("race_exited_p50_ms"), "no hand-off", 0);
    t.ratio(race + ", all exited, no hand-off" + races + " (ms)", coldOf("race_exited_p50_ms"), coldOf("answer_ensure_p50_ms"), "cold spawn p50", 0);
    t.absolute(race + ", daemons, hand-off (count)", coldOf("ho_race_daemons"), OptionalDouble.empty(), "", 1, "= 1");
    t.absolute(race + ", daemons, no hand-off (count)", coldOf("race_daemons"), OptionalDouble.empty(), "", 1, "= 1");
    String replace = "replace (" + cold.getOrDefault("replace_rounds", "?") + "x, " + cold.getOrDefault("replace_connects", "?")
        + " requests)";
    t.absolute(replace + ", failed, hand-off (count)", coldOf("ho_replace_failures"), OptionalDouble.empty(), "", 0, "= 0");
    t.ratio(replace + ", failed, no hand-off (count)", coldOf("replace_failures"), OptionalDouble.empty(), "", 0);
    t.ratio(replace + ", max request, hand-off (ms)", coldOf("ho_replace_max_ms"), coldOf("ho_replace_steady_p50_ms"), "p50 before", 0);
    t.ratio(replace + ", p99 request, hand-off (ms)", coldOf("ho_replace_p99_ms"), coldOf("ho_replace_steady_p50_ms"), "p50 before", 0);
    t.ratio(replace + ", longest without answer, hand-off (ms)", coldOf("ho_replace_gap_max_ms"), coldOf("replace_gap_max_ms"), "no hand-off", 0);
    t.ratio(replace + ", longest without answer, no hand-off (ms)", coldOf("replace_gap_max_ms"), coldOf("answer_ensure_p50_ms"), "cold spawn p50", 0);
    t.ratio(replace + ", p99 request, no hand-off (ms)", coldOf("replace_p99_ms"), coldOf("replace_steady_p50_ms"), "p50 before", 0);
    t.ratio("replace call p50, hand-off (ms)", coldOf("ho_replace_call_p50_ms"), coldOf("replace_call_p50_ms"), "no hand-off", 0);
  }

  private void print(Table t) {
    System.out.printf("fastbind benchmarks (%s%s) on JDK %s (%s), socket dir %s on %s, %d cores%n",
        full ? "full" : "quick", onlyClient ? ", client rows only" : "", System.getProperty("java.version"), System.getProperty("java.vm.name"),
        SocketDirectory.base(), SocketDirectory.fileSystemType(SocketDirectory.base()),
        Runtime.getRuntime().availableProcessors());
    System.out.printf("JVM flags for hello/launcher/daemon: %s%n", String.join(" ", ColdStart.JVM_FLAGS));
    t.print();
    for (String n : notes) {
      System.out.println("note: " + n);
    }
    for (String p : problems) {
      System.out.println("problem: " + p);
    }
    if (!problems.isEmpty()) {
      System.exit(1);
    }
  }

  /** The report: rows of figure, floor, ratio, target and verdict. */
  private static final class Table {
    private final List<String[]> rows = new ArrayList<>();
    private int met;
    private int missed;

    void ratio(String figure, OptionalDouble value, OptionalDouble floor, String floorName, double maxRatio) {
      String ratio = value.isPresent() && floor.isPresent() && floor.getAsDouble() > 0
          ? fmt(value.getAsDouble() / floor.getAsDouble()) + "x" : "-";
      String target = maxRatio > 0 ? "<= " + maxRatio + "x" : "-";
      String verdict = "-";
      if (maxRatio > 0) {
        verdict = verdict(value.isPresent() && floor.isPresent()
            ? value.getAsDouble() <= maxRatio * floor.getAsDouble() : null);
      }
      add(figure, value, floor, floorName, ratio, target, verdict);
    }

    void absolute(String figure, OptionalDouble value, OptionalDouble floor, String floorName, double limit, String target) {
      String ratio = value.isPresent() && floor.isPresent() && floor.getAsDouble() > 0
          ? fmt(value.getAsDouble() / floor.getAsDouble()) + "x" : "-";
      boolean equality = target.startsWith("=");
      boolean atMost = target.startsWith("<=");
      Boolean ok = value.isPresent()
          ? (equality ? value.getAsDouble() == limit : atMost ? value.getAsDouble() <= limit : value.getAsDouble() < limit)
          : null;
      add(figure, value, floor, floorName, ratio, target, verdict(ok));
    }

    private String verdict(Boolean ok) {
      if (ok == null) {
        missed++;
        return "NOT MEASURED";
      }
      if (ok) {
        met++;
        return "met";
      }
      missed++;
      return "MISSED";
    }

    private void add(String figure, OptionalDouble value, OptionalDouble floor, String floorName,
        String ratio, String target, String verdict) {
      rows.add(new String[] {figure, value.isPresent() ? fmt(value.getAsDouble()) : "n/a",
          floor.isPresent() ? fmt(floor.getAsDouble()) + " (" + floorName + ")" : "-", ratio, target, verdict});
    }

    void print() {
      String[] header = {"figure", "value", "floor (same run)", "ratio", "target", "met/missed"};
      int[] w = new int[header.length];
      List<String[]> all = new ArrayList<>();
      all.add(header);
      all.addAll(rows);
      for (String[] r : all) {
        for (int i = 0; i < r.length; i++) {
          w[i] = Math.max(w[i], r[i].length());
        }
      }
      for (String[] r : all) {
        StringBuilder line = new StringBuilder("|");
        for (int i = 0; i < r.length; i++) {
          line.append(' ').append(String.format("%-" + w[i] + "s", r[i])).append(" |");
        }
        System.out.println(line);
        if (r == header) {
          StringBuilder sep = new StringBuilder("|");
          for (int width : w) {
            sep.append('-').append("-".repeat(width)).append("-|");
          }
          System.out.println(sep);
        }
      }
      System.out.printf("targets: %d met, %d missed%n", met, missed);
    }

    private static String fmt(double v) {
      return String.format(Locale.ROOT, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    }
  }
}
