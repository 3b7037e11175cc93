package dev.fastbind.examples.cache;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The example's demo ({@code mvn -pl examples/cache exec:exec}): runs the real {@code cachectl}
 * script as separate processes, as a user would, against a daemon of its own: a private runtime
 * directory and state directory in a temporary directory, removed at the end, so it never meets a
 * daemon of yours. Status, three puts (the first starts the daemon), the gets (served hot), stats, a
 * stop, a get that starts a fresh daemon which loads the persisted index (slowed down per entry, so
 * its progress shows), stats, status, stop; then it checks that no daemon process and no socket or
 * lockfile is left. Whatever fails, it stops the daemon through {@code cachectl stop} and removes its
 * directory.
 *
 * <p>Argument: the path of the {@code cachectl} script. Exit status 0 when every step did what it
 * should, 1 otherwise (the failing step is named).
 */
public final class CacheDemo {

  /** The artificial pause per index entry while a fresh daemon loads the index. */
  static final int INDEX_DELAY_MS = 200;
  private static final long STEP_TIMEOUT_SECONDS = 60;

  private final Path script;
  private final Path runtime;
  private final Path state;
  private final PrintStream out;
  private final List<Long> daemonPids = new ArrayList<>();

  private CacheDemo(Path script, Path root, PrintStream out) {
    this.script = script;
    this.runtime = root.resolve("run");
    this.state = root.resolve("state");
    this.out = out;
  }

  /** What one cachectl run did. */
  private record Run(int status, byte[] stdout, String stderr, long millis) {
    String text() {
      return new String(stdout, StandardCharsets.UTF_8);
    }
  }

  /** Runs the demo; see the class documentation. */
  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: CacheDemo PATH-TO-cachectl");
      System.exit(64);
    }
    Path root = Files.createTempDirectory("cachectl-demo"); // owner-only, and short: socket paths fit
    CacheDemo demo = new CacheDemo(Path.of(args[0]).toAbsolutePath(), root, System.out);
    int status = 1;
    try {
      Files.createDirectory(demo.runtime);
      demo.run(root);
      status = 0;
    } catch (IllegalStateException | IOException e) {
      System.out.println("demo FAILED: " + e.getMessage());
    } finally {
      demo.cleanUp(root);
    }
    System.exit(status);
  }

  private void run(Path root) throws IOException {
    out.println("cachectl demo: runtime directory " + runtime + ", state directory " + state);
    Run status = step("status", "no daemon yet", 3, "status");
    expect(status.text().contains("daemon: not running"), "status should say no daemon runs");

    Map<String, String> files = Map.of("alpha.txt", "alpha\n".repeat(2000), "bravo.txt", "bravo\n".repeat(300),
        "charlie.txt", "charlie\n");
    List<String> names = files.keySet().stream().sorted().toList();
    List<String> keys = new ArrayList<>();
    for (String name : names) {
      Path file = Files.writeString(root.resolve(name), files.get(name));
      Run put = step("put " + name, keys.isEmpty() ? "cold: starts the daemon" : "hot", 0, "put", file.toString());
      keys.add(put.text().strip());
    }
    for (int i = 0; i < names.size(); i++) {
      Run get = step("get " + keys.get(i).substring(0, 12) + "…", "hot", 0, "get", keys.get(i));
      expect(Arrays.equals(get.stdout(), files.get(names.get(i)).getBytes(StandardCharsets.UTF_8)),
          "get should return " + names.get(i) + " as it was put");
    }
    daemonPids.add(pid(step("stats", "", 0, "stats")));
    step("stop", "", 0, "stop");

    Run cold = step("get " + keys.get(0).substring(0, 12) + "…", "cold: a fresh daemon loads the index", 0, "get",
        keys.get(0));
    expect(Arrays.equals(cold.stdout(), files.get(names.get(0)).getBytes(StandardCharsets.UTF_8)),
        "the fresh daemon should return what the first one stored");
    Run stats = step("stats", "", 0, "stats");
    daemonPids.add(pid(stats));
    expect(stats.text().contains("entries: " + names.size()), "the fresh daemon should hold " + names.size() + " entries");
    expect(!daemonPids.get(0).equals(daemonPids.get(1)), "the second daemon should be a new process");
    step("status", "", 0, "status");
    step("stop", "", 0, "stop");

    List<Long> alive = daemonPids.stream().filter(CacheDemo::running).toList();
    expect(alive.isEmpty(), "daemon processes still running: " + alive);
    List<String> left = runtimeFilesLeft();
    expect(left.isEmpty(), "left in the runtime directory: " + left);
    out.println("nothing left running: daemons " + daemonPids + " have exited, no socket or lockfile in " + runtime);
  }

  /**
   * Whether {@code pid} still runs. A daemon that exited but is not yet reaped (a zombie, {@code Z}
   * in {@code /proc/<pid>/stat}) does not: once its launcher has exited it is init's to reap, and a
   * container's init may take seconds.
   */
  static boolean running(long pid) {
    if (!ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
      return false;
    }
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
      int end = stat.lastIndexOf(')');
      char state = end > 0 && end + 2 < stat.length() ? stat.charAt(end + 2) : '?';
      return state != 'Z' && state != 'X';
    } catch (IOException e) {
      return false; // reaped meanwhile
    }
  }

  /** Runs {@code cachectl args}, prints what it said, and checks its exit status. */
  private Run step(String title, String note, int expected, String... args) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(script.toString());
    command.addAll(List.of(args));
    Run run = cachectl(command);
    out.printf(Locale.ROOT, "$ cachectl %-24s %7d ms  %s%n", title, run.millis(), note);
    if (args[0].equals("get") && run.status() == 0) {
      out.println("    (" + run.stdout().length + " bytes)");
    } else {
      run.text().lines().forEach(l -> out.println("    " + l));
    }
    run.stderr().lines().forEach(l -> out.println("    " + l));
    expect(run.status() == expected, "cachectl " + String.join(" ", args) + " exited with " + run.status()
        + ", expected " + expected);
    return run;
  }

  private Run cachectl(List<String> command) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    pb.environment().put("XDG_RUNTIME_DIR", runtime.toString());
    pb.environment().put("CACHECTL_STATE_DIR", state.toString());
    pb.environment().put("CACHECTL_INDEX_DELAY_MS", Integer.toString(INDEX_DELAY_MS));
    pb.environment().put("CACHECTL_IDLE_MS", "60000"); // a daemon the clean-up missed ends by itself
    // The launchers' class-data archives (fastbind-java) beside the build's script, made by the first
    // demo and reused by the next; made in the foreground, so that nothing runs on after the demo.
    pb.environment().put("FASTBIND_JAVA_ARCHIVE_DIR", script.getParent().resolveSibling("launcher-archives").toString());
    pb.environment().put("FASTBIND_JAVA_CREATE", "foreground");
    pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    Path out = Files.createTempFile(runtime, "step", ".out");
    Path err = Files.createTempFile(runtime, "step", ".err");
    pb.redirectOutput(out.toFile()).redirectError(err.toFile());
    long start = System.nanoTime();
    Process p = pb.start();
    try {
      if (!p.waitFor(STEP_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        throw new IllegalStateException(String.join(" ", command) + " did not finish within " + STEP_TIMEOUT_SECONDS + " s");
      }
      long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      return new Run(p.exitValue(), Files.readAllBytes(out), Files.readString(err), millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } finally {
      p.destroyForcibly(); // only when it overran: a cachectl that exited is gone already
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  private static long pid(Run stats) {
    return stats.text().lines().filter(l -> l.startsWith("pid: ")).map(l -> Long.parseLong(l.substring(5)))
        .findFirst().orElseThrow(() -> new IllegalStateException("stats named no pid: " + stats.text()));
  }

  private List<String> runtimeFilesLeft() throws IOException {
    Path dir = runtime.resolve("fastbind");
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".sock") || n.endsWith(".ctl") || n.endsWith(".lock")).sorted().toList();
    }
  }

  private static void expect(boolean condition, String what) {
    if (!condition) {
      throw new IllegalStateException(what);
    }
  }

  /** Stops the demo's daemon if one may run (through cachectl, which the broker verifies), then removes the directory. */
  private void cleanUp(Path root) {
    try {
      if (Files.exists(runtime.resolve("fastbind").resolve(CacheBackend.SERVICE + ".lock"))) {
        cachectl(List.of(script.toString(), "stop"));
      }
    } catch (IOException | IllegalStateException e) {
      System.out.println("demo clean-up: cachectl stop failed: " + e.getMessage());
    }
    try (Stream<Path> all = Files.walk(root)) { // does not follow links
      for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      System.out.println("demo clean-up: could not remove " + root + ": " + e.getMessage());
    }
  }
}
