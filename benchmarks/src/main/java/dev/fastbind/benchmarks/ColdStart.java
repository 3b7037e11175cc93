package dev.fastbind.benchmarks;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The cold-start harness: what a person waits for, measured from outside, beside a bare JVM start.
 *
 * <p>Three measurements, each interleaved with its floor (a {@link Hello} JVM with the same JDK,
 * flags and class path) so that load on a shared machine hits both alike:
 * <ol>
 *   <li><b>cold</b>: {@code ensureRunning} on a stopped service until it returns a ready daemon, then
 *       {@code stop}; beside the whole-process time of a bare hello JVM;
 *   <li><b>launcher</b>: the whole-process time of a {@link Launcher} JVM whose daemon is already up;
 *   <li><b>race</b>: N launcher processes started at once on a stopped service; the wall time until
 *       all have exited and how many distinct daemons they report (one is right).
 * </ol>
 * The cold and launcher measurements each come in two variants, measured in the same rounds in
 * alternating order: with no class-data sharing beyond the JDK's default archive
 * ({@link ServiceDefinition.Builder#classDataSharing} off for the daemon, no flags for the launcher)
 * and with an archive (the broker's default for the daemon; one of its own for the launcher:
 * {@code -XX:+AutoCreateSharedArchive} on JDK 19+, {@code -XX:ArchiveClassesAtExit} then
 * {@code -XX:SharedArchiveFile} on 17), beside both a plain hello and a hello with its own archive.
 *
 * <p>Run it with the thin SDK class path (not the shaded JMH jar): the broker starts the daemon with
 * this JVM's {@code java.class.path}. Arguments: {@code --runs=N} (default 20), {@code --race=N}
 * (default 8). Output: one {@code key=value} line per figure on stdout (milliseconds), progress on
 * stderr. Every child process is waited for with a timeout and killed when it runs out; daemons
 * halt on their own after two minutes in any case.
 */
public final class ColdStart {

  /** The JVM flags for every JVM the harness and the hot-path benchmark start. */
  static final List<String> JVM_FLAGS = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto");

  private static final String SERVICE = "bench-cold";
  private static final long CHILD_TIMEOUT_SECONDS = 30;

  private final Path dir;
  private final Broker broker = Broker.create();
  private final Map<String, String> out = new LinkedHashMap<>();
  private final Map<Process, Path> outputs = new HashMap<>();

  private ColdStart(Path dir) {
    this.dir = dir;
  }

  /**
   * The service the harness and every {@link Launcher} use; {@code sharing} turns the broker's
   * class-data sharing archive for the daemon on or off.
   */
  static ServiceDefinition definition(Path dir, boolean sharing) {
    return definition(dir, sharing, JVM_FLAGS);
  }

  /** {@link #definition(Path, boolean)} with these JVM options for the daemon instead of the harness's own. */
  static ServiceDefinition definition(Path dir, boolean sharing, List<String> options) {
    return ServiceDefinition.builder(SERVICE)
        .javaMain(BenchDaemon.class.getName(), "--lifetime=120")
        .javaOptions(options.toArray(String[]::new))
        .classDataSharing(sharing)
        .runtimeDirectory(dir)
        // the harness spawns and stops on purpose, dozens of times a minute: not a crash loop
        .crashLoopLimit(10_000, Duration.ofSeconds(1))
        // a figure, not a verdict: on a loaded 2-core machine a spawn may pass the 500 ms default
        .probeBudget(Duration.ofSeconds(10))
        .build();
  }

  /** Runs the harness; see the type's documentation for arguments and output. */
  public static void main(String[] args) throws Exception {
    int runs = 20;
    int race = 8;
    boolean aot = false;
    for (String a : args) {
      if (a.startsWith("--runs=")) {
        runs = Integer.parseInt(a.substring("--runs=".length()));
      } else if (a.startsWith("--race=")) {
        race = Integer.parseInt(a.substring("--race=".length()));
      } else if (a.equals("--aot")) {
        aot = true;
      } else {
        throw new IllegalArgumentException("unknown argument " + a);
      }
    }
    Path dir = SocketDirectory.create("fb-cold");
    ColdStart harness = new ColdStart(dir);
    try {
      harness.run(runs, race, aot);
    } finally {
      harness.stopQuietly();
      SocketDirectory.deleteTree(dir);
    }
    harness.out.forEach((k, v) -> System.out.println(k + "=" + v));
  }

  private void run(int runs, int race, boolean aot) throws Exception {
    out.put("jdk", System.getProperty("java.version"));
    out.put("fs", SocketDirectory.fileSystemType(dir));
    out.put("runs", Integer.toString(runs));
    prime();
    coldSpawns(runs);
    launchers(runs);
    if (aot && Runtime.version().feature() >= 25) {
      aotSeries(runs);
    }
    race(race);
  }

  /**
   * JDK 25's AOT cache for the daemon, which the broker does not manage (its options turn the broker's
   * archive off): one training spawn and stop with {@code -XX:AOTCacheOutput} (the JVM assembles the
   * cache as it exits), then cold spawns with {@code -XX:AOTCache}, beside plain hello starts.
   */
  private void aotSeries(int runs) throws Exception {
    Path cache = dir.resolve("daemon.aot");
    // -Xshare:auto may not be combined with -XX:AOTCacheOutput; it is the default anyway
    List<String> flags = new ArrayList<>(JVM_FLAGS);
    flags.remove("-Xshare:auto");
    List<String> trainingFlags = new ArrayList<>(flags);
    trainingFlags.add("-XX:AOTCacheOutput=" + cache);
    ServiceDefinition training = definition(dir, true, trainingFlags);
    broker.ensureRunning(training);
    long stopStart = System.nanoTime();
    broker.stop(training);
    out.put("aot_training_stop_ms", String.format(Locale.ROOT, "%.1f", (System.nanoTime() - stopStart) / 1e6));
    if (!Files.isRegularFile(cache)) {
      System.err.println("no AOT cache was written at " + cache + "; AOT series skipped");
      return;
    }
    flags.add("-XX:AOTCache=" + cache);
    ServiceDefinition def = definition(dir, true, flags);
    long[] cold = new long[runs];
    long[] hello = new long[runs];
    for (int i = 0; i < runs; i++) {
      hello[i] = processNanos(javaCommand(JVM_FLAGS, Hello.class.getName()));
      long start = System.nanoTime();
      broker.ensureRunning(def);
      cold[i] = System.nanoTime() - start;
      broker.stop(def);
    }
    put("aot_cold", cold);
    put("aot_hello", hello);
    System.err.printf("cold start aot: p50 %.1f ms, hello p50 %.1f ms%n", Percentiles.of(cold).at(50) / 1e6,
        Percentiles.of(hello).at(50) / 1e6);
  }

  /**
   * JVM flags that give a role ({@code launcher}, {@code hello}) a dynamic CDS archive of its own: on
   * JDK 19+ created and refreshed by the JVM; on JDK 17 written by an unmeasured run with
   * {@code writing} set, then mapped.
   */
  private List<String> ownArchive(String role, boolean writing) {
    List<String> flags = new ArrayList<>(JVM_FLAGS);
    Path archive = dir.resolve(role + ".jsa");
    if (Runtime.version().feature() >= 19) {
      flags.add("-XX:+AutoCreateSharedArchive");
      flags.add("-XX:SharedArchiveFile=" + archive);
    } else {
      flags.add((writing ? "-XX:ArchiveClassesAtExit=" : "-XX:SharedArchiveFile=") + archive);
    }
    return flags;
  }

  /** Unmeasured runs that write the archives (daemon, hello, launcher with its daemon up) before measuring. */
  private void prime() throws Exception {
    ServiceDefinition def = definition(dir, true);
    broker.ensureRunning(def);
    broker.stop(def); // the daemon writes the broker's archive as it exits
    processNanos(javaCommand(ownArchive("hello", true), Hello.class.getName()));
    broker.ensureRunning(def);
    processNanos(launcherCommand(ownArchive("launcher", true), true));
    broker.stop(def);
  }

  /**
   * Cold spawns without class-data sharing beyond the JDK's default archive and with the broker's
   * archive (its default), beside a plain hello and a hello with an archive of its own. All four
   * run in every round, in alternating order, so that a change of load on a shared machine hits them
   * alike.
   */
  private void coldSpawns(int runs) throws Exception {
    ServiceDefinition[] defs = {definition(dir, false), definition(dir, true)};
    for (ServiceDefinition def : defs) {
      broker.ensureRunning(def); // unmeasured: loads the broker's cold path in this JVM
      broker.stop(def);
    }
    long[][] cold = new long[2][runs];
    long[] hello = new long[runs];
    long[] helloOwn = new long[runs];
    List<String> ownHello = ownArchive("hello", false);
    for (int i = 0; i < runs; i++) {
      hello[i] = processNanos(javaCommand(JVM_FLAGS, Hello.class.getName()));
      helloOwn[i] = processNanos(javaCommand(ownHello, Hello.class.getName()));
      for (int j = 0; j < 2; j++) {
        int k = (i + j) % 2;
        long start = System.nanoTime();
        DaemonInfo info = broker.ensureRunning(defs[k]);
        cold[k][i] = System.nanoTime() - start;
        if (!info.spawned()) {
          throw new IllegalStateException("run " + i + " found a running daemon instead of spawning: " + info);
        }
        broker.stop(defs[k]);
      }
    }
    put("cold", cold[0]);
    put("cds_cold", cold[1]);
    put("hello", hello);
    put("hello_own", helloOwn);
    System.err.printf("cold start: p50 %.1f ms without CDS, %.1f ms with; hello p50 %.1f ms%n",
        Percentiles.of(cold[0]).at(50) / 1e6, Percentiles.of(cold[1]).at(50) / 1e6, Percentiles.of(hello).at(50) / 1e6);
  }

  /**
   * Launchers with the daemon up, plain and with an archive of their own, beside a plain hello and a
   * hello with its own archive, in alternating order.
   */
  private void launchers(int runs) throws Exception {
    ServiceDefinition def = definition(dir, true);
    broker.ensureRunning(def);
    List<List<String>> flags = List.of(JVM_FLAGS, ownArchive("launcher", false));
    List<String> ownHello = ownArchive("hello", false);
    long[][] launcher = new long[2][runs];
    long[] hello = new long[runs];
    long[] helloOwn = new long[runs];
    for (int i = 0; i < runs; i++) {
      hello[i] = processNanos(javaCommand(JVM_FLAGS, Hello.class.getName()));
      helloOwn[i] = processNanos(javaCommand(ownHello, Hello.class.getName()));
      for (int j = 0; j < 2; j++) {
        int k = (i + j) % 2;
        launcher[k][i] = processNanos(launcherCommand(flags.get(k), true));
      }
    }
    broker.stop(def);
    put("launcher", launcher[0]);
    put("cds_launcher", launcher[1]);
    put("launcher_hello", hello);
    put("launcher_hello_own", helloOwn);
    System.err.printf("launcher: p50 %.1f ms plain, %.1f ms with its own archive; hello p50 %.1f ms%n",
        Percentiles.of(launcher[0]).at(50) / 1e6, Percentiles.of(launcher[1]).at(50) / 1e6,
        Percentiles.of(hello).at(50) / 1e6);
  }

  private void race(int n) throws Exception {
    stopQuietly();
    List<Process> launchers = new ArrayList<>();
    long start = System.nanoTime();
    for (int i = 0; i < n; i++) {
      launchers.add(start(launcherCommand(JVM_FLAGS, true)));
    }
    Set<String> pids = new HashSet<>();
    int spawned = 0;
    int failed = 0;
    for (Process p : launchers) {
      String output;
      try {
        output = finish(p);
      } catch (IOException timedOut) {
        failed++;
        continue;
      }
      for (String line : output.split("\n")) {
        if (line.startsWith("spawned ") || line.startsWith("reused ")) {
          pids.add(line.substring(line.indexOf(' ') + 1).trim());
          spawned += line.startsWith("spawned ") ? 1 : 0;
        }
      }
      failed += p.exitValue() == 0 ? 0 : 1;
    }
    long wall = System.nanoTime() - start;
    stopQuietly();
    out.put("race_n", Integer.toString(n));
    out.put("race_wall_ms", String.format(Locale.ROOT, "%.1f", wall / 1e6));
    out.put("race_daemons", Integer.toString(pids.size()));
    out.put("race_spawned", Integer.toString(spawned));
    out.put("race_failed", Integer.toString(failed));
    System.err.printf("race of %d launchers: %.1f ms, %d daemon(s), %d failed%n", n, wall / 1e6, pids.size(), failed);
  }

  private void put(String key, long[] nanos) {
    Percentiles p = Percentiles.of(nanos);
    out.put(key + "_p50_ms", String.format(Locale.ROOT, "%.2f", p.at(50) / 1e6));
    out.put(key + "_p90_ms", String.format(Locale.ROOT, "%.2f", p.at(90) / 1e6));
    out.put(key + "_max_ms", String.format(Locale.ROOT, "%.2f", p.max() / 1e6));
  }

  private List<String> javaCommand(List<String> flags, String mainClass, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(flags);
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(mainClass);
    cmd.addAll(List.of(args));
    return cmd;
  }

  /** A {@link Launcher} JVM with {@code jvmFlags}, for the daemon with or without the broker's archive. */
  private List<String> launcherCommand(List<String> jvmFlags, boolean sharing) {
    return javaCommand(jvmFlags, Launcher.class.getName(), dir.toString(), sharing ? "on" : "off");
  }

  /** Starts {@code command}, waits for it to exit (bounded), and returns the elapsed nanoseconds. */
  private long processNanos(List<String> command) throws IOException, InterruptedException {
    long start = System.nanoTime();
    Process p = start(command);
    String output = finish(p);
    long elapsed = System.nanoTime() - start;
    if (p.exitValue() != 0) {
      throw new IOException("exit status " + p.exitValue() + " from " + command + ":\n" + output);
    }
    return elapsed;
  }

  /** Starts {@code command} with no input and its output in a file of the harness directory. */
  private Process start(List<String> command) throws IOException {
    Path output = Files.createTempFile(dir, "out", ".txt");
    Process p = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(output.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    outputs.put(p, output);
    return p;
  }

  /** Waits for exit within the child timeout (killing the process if it runs out); returns its output. */
  private String finish(Process p) throws IOException, InterruptedException {
    if (!p.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      p.waitFor(5, TimeUnit.SECONDS);
      throw new IOException("child " + p.pid() + " did not exit within " + CHILD_TIMEOUT_SECONDS + " s; killed");
    }
    Path output = outputs.remove(p);
    String text = Files.readString(output, StandardCharsets.UTF_8);
    Files.deleteIfExists(output);
    return text;
  }

  private void stopQuietly() {
    try {
      if (Files.isDirectory(dir)) {
        broker.stop(definition(dir, true));
      }
    } catch (IOException | RuntimeException e) {
      System.err.println("stopping the harness daemon: " + e);
    }
  }
}
