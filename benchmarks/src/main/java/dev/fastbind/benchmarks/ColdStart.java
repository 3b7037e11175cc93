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
 * On JDK 19 and later, the cold and launcher measurements run a second time with a dynamic
 * class-data-sharing archive per role ({@code -XX:+AutoCreateSharedArchive}), hello included.
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

  /** The service the harness and every {@link Launcher} use. */
  static ServiceDefinition definition(Path dir, List<String> javaOptions) {
    return ServiceDefinition.builder(SERVICE)
        .javaMain(BenchDaemon.class.getName(), "--lifetime=120")
        .javaOptions(javaOptions.toArray(String[]::new))
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
    for (String a : args) {
      if (a.startsWith("--runs=")) {
        runs = Integer.parseInt(a.substring("--runs=".length()));
      } else if (a.startsWith("--race=")) {
        race = Integer.parseInt(a.substring("--race=".length()));
      } else {
        throw new IllegalArgumentException("unknown argument " + a);
      }
    }
    Path dir = SocketDirectory.create("fb-cold");
    ColdStart harness = new ColdStart(dir);
    try {
      harness.run(runs, race);
    } finally {
      harness.stopQuietly(JVM_FLAGS);
      SocketDirectory.deleteTree(dir);
    }
    harness.out.forEach((k, v) -> System.out.println(k + "=" + v));
  }

  private void run(int runs, int race) throws Exception {
    out.put("jdk", System.getProperty("java.version"));
    out.put("fs", SocketDirectory.fileSystemType(dir));
    out.put("runs", Integer.toString(runs));
    series("", JVM_FLAGS, JVM_FLAGS, runs);
    if (Runtime.version().feature() >= 19) {
      List<String> daemonCds = withArchive("daemon");
      List<String> helloCds = withArchive("hello");
      prime(daemonCds, helloCds);
      series("cds_", daemonCds, helloCds, runs);
    }
    race(race);
  }

  private List<String> withArchive(String role) {
    List<String> flags = new ArrayList<>(JVM_FLAGS);
    flags.add("-XX:+AutoCreateSharedArchive");
    flags.add("-XX:SharedArchiveFile=" + dir.resolve(role + ".jsa"));
    return flags;
  }

  /** One spawn and stop and one hello, unmeasured, so the archives exist before measuring. */
  private void prime(List<String> daemonFlags, List<String> helloFlags) throws Exception {
    broker.ensureRunning(definition(dir, daemonFlags));
    broker.stop(definition(dir, daemonFlags));
    processNanos(javaCommand(helloFlags, Hello.class.getName()));
    processNanos(launcherCommand(daemonFlags));
    stopQuietly(daemonFlags);
  }

  /** Cold spawns beside hello starts, then launchers with the daemon up beside hello starts. */
  private void series(String prefix, List<String> daemonFlags, List<String> helloFlags, int runs) throws Exception {
    ServiceDefinition def = definition(dir, daemonFlags);
    broker.ensureRunning(def); // unmeasured: loads the broker's cold path in this JVM
    broker.stop(def);
    long[] cold = new long[runs];
    long[] hello = new long[runs];
    for (int i = 0; i < runs; i++) {
      hello[i] = processNanos(javaCommand(helloFlags, Hello.class.getName()));
      long start = System.nanoTime();
      DaemonInfo info = broker.ensureRunning(def);
      cold[i] = System.nanoTime() - start;
      if (!info.spawned()) {
        throw new IllegalStateException("run " + i + " found a running daemon instead of spawning: " + info);
      }
      broker.stop(def);
    }
    put(prefix + "cold", cold);
    put(prefix + "hello", hello);
    System.err.printf("cold start %s: p50 %.1f ms, hello p50 %.1f ms%n", prefix.isEmpty() ? "plain" : prefix,
        Percentiles.of(cold).at(50) / 1e6, Percentiles.of(hello).at(50) / 1e6);

    broker.ensureRunning(def);
    long[] launcher = new long[runs];
    long[] hello2 = new long[runs];
    for (int i = 0; i < runs; i++) {
      hello2[i] = processNanos(javaCommand(helloFlags, Hello.class.getName()));
      launcher[i] = processNanos(launcherCommand(daemonFlags));
    }
    broker.stop(def);
    put(prefix + "launcher", launcher);
    put(prefix + "launcher_hello", hello2);
    System.err.printf("launcher %s: p50 %.1f ms, hello p50 %.1f ms%n", prefix.isEmpty() ? "plain" : prefix,
        Percentiles.of(launcher).at(50) / 1e6, Percentiles.of(hello2).at(50) / 1e6);
  }

  private void race(int n) throws Exception {
    stopQuietly(JVM_FLAGS);
    List<Process> launchers = new ArrayList<>();
    long start = System.nanoTime();
    for (int i = 0; i < n; i++) {
      launchers.add(start(launcherCommand(JVM_FLAGS)));
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
    stopQuietly(JVM_FLAGS);
    out.put("race_n", Integer.toString(n));
    out.put("race_wall_ms", String.format("%.1f", wall / 1e6));
    out.put("race_daemons", Integer.toString(pids.size()));
    out.put("race_spawned", Integer.toString(spawned));
    out.put("race_failed", Integer.toString(failed));
    System.err.printf("race of %d launchers: %.1f ms, %d daemon(s), %d failed%n", n, wall / 1e6, pids.size(), failed);
  }

  private void put(String key, long[] nanos) {
    Percentiles p = Percentiles.of(nanos);
    out.put(key + "_p50_ms", String.format("%.2f", p.at(50) / 1e6));
    out.put(key + "_p90_ms", String.format("%.2f", p.at(90) / 1e6));
    out.put(key + "_max_ms", String.format("%.2f", p.max() / 1e6));
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

  private List<String> launcherCommand(List<String> daemonFlags) {
    List<String> args = new ArrayList<>();
    args.add(dir.toString());
    args.addAll(daemonFlags);
    // the launcher JVM itself runs with the plain flags plus the daemon's archive flags' counterpart
    List<String> launcherFlags = new ArrayList<>(JVM_FLAGS);
    if (daemonFlags.size() > JVM_FLAGS.size()) {
      launcherFlags.add("-XX:+AutoCreateSharedArchive");
      launcherFlags.add("-XX:SharedArchiveFile=" + dir.resolve("launcher.jsa"));
    }
    return javaCommand(launcherFlags, Launcher.class.getName(), args.toArray(String[]::new));
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

  private void stopQuietly(List<String> flags) {
    try {
      if (Files.isDirectory(dir)) {
        broker.stop(definition(dir, flags));
      }
    } catch (IOException | RuntimeException e) {
      System.err.println("stopping the harness daemon: " + e);
    }
  }
}
