package dev.fastbind.examples.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.broker.Broker;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.Signals;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The real {@code target/bin/cachectl} script, run as a separate process against a private runtime
 * directory ({@code XDG_RUNTIME_DIR}) and state directory, as a user runs it. Every daemon it starts
 * has an idle timeout of {@link #IDLE_MS} unless a test sets another, so none outlives a test by
 * long even if the clean-up fails; {@link #stopAll} stops them through the broker and checks they
 * are gone.
 */
final class Cachectl {
  /** The idle timeout of the daemons tests start: their bounded life. */
  static final String IDLE_MS = "30000";
  private static final long RUN_TIMEOUT_SECONDS = 60;

  final Path runtime;
  final Path state;
  private final Path scratch;
  private final Map<String, String> env = new LinkedHashMap<>();

  /** What one run did. */
  record Result(int status, byte[] stdout, String stderr) {
    String out() {
      return new String(stdout, StandardCharsets.UTF_8);
    }

    /** Fails unless the run exited with {@code expected}; returns this. */
    Result expect(int expected) {
      assertEquals(expected, status, "exit status; stdout: " + out() + "; stderr: " + stderr);
      return this;
    }

    /** Fails unless stderr is exactly one line; returns it. */
    String oneErrorLine() {
      List<String> lines = stderr.lines().toList();
      assertEquals(1, lines.size(), "stderr should be one line: " + stderr);
      return lines.get(0);
    }

    /** The value of a {@code name: value} line of stdout. */
    String fact(String name) {
      return out().lines().filter(l -> l.startsWith(name + ": ")).map(l -> l.substring(name.length() + 2)).findFirst()
          .orElseThrow(() -> new AssertionError("no '" + name + ":' line in " + out()));
    }
  }

  Cachectl(Path dir) throws IOException {
    this.runtime = Files.createDirectories(dir.resolve("run"));
    this.state = dir.resolve("state");
    this.scratch = Files.createDirectories(dir.resolve("scratch"));
    env.put("JAVA_HOME", System.getProperty("java.home"));
    env.put("XDG_RUNTIME_DIR", runtime.toString());
    env.put("CACHECTL_STATE_DIR", state.toString());
    env.put("CACHECTL_IDLE_MS", IDLE_MS);
    // fastbind-java's archives: one directory for the whole test run (each is made once, by the first
    // test that runs a command), never the developer's ~/.cache; made in the foreground, so that no
    // archive-making JVM outlives a test.
    env.put("FASTBIND_JAVA_ARCHIVE_DIR", Path.of(System.getProperty("cachectl.script")).getParent()
        .resolveSibling("test-launcher-archives").toString());
    env.put("FASTBIND_JAVA_CREATE", "foreground");
  }

  /** The script the build made. */
  static Path script() {
    String s = System.getProperty("cachectl.script");
    assertTrue(s != null && Files.isExecutable(Path.of(s)), "no executable cachectl script at " + s
        + ": these tests run in the package phase, after the build made target/bin/cachectl");
    return Path.of(s);
  }

  /** Sets an environment variable for the runs from now on (and the daemons they start). */
  Cachectl env(String name, String value) {
    env.put(name, value);
    return this;
  }

  /** The broker's directory for this runtime directory. */
  Path fastbindDir() {
    return runtime.resolve("fastbind");
  }

  Result run(String... args) {
    return run(null, args);
  }

  /** Runs {@code cachectl args} with {@code stdin} (a file, or null for none) and waits for it. */
  Result run(Path stdin, String... args) {
    Process p = start(stdin, args);
    try {
      if (!p.waitFor(RUN_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        throw new AssertionError("cachectl " + String.join(" ", args) + " did not finish in " + RUN_TIMEOUT_SECONDS + " s");
      }
      return result(p);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    } finally {
      Cleanup.killTree(p); // a no-op for one that exited; the daemon is in its own session, not in this tree
    }
  }

  /** Starts {@code cachectl args} without waiting; collect it with {@link #finish}. */
  Process start(Path stdin, String... args) {
    List<String> command = new ArrayList<>();
    command.add(script().toString());
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().putAll(env);
    try {
      Path out = Files.createTempFile(scratch, "out", "");
      Path err = Files.createTempFile(scratch, "err", "");
      pb.redirectOutput(out.toFile()).redirectError(err.toFile())
          .redirectInput(stdin == null ? Path.of("/dev/null").toFile() : stdin.toFile());
      Process p = pb.start();
      outputs.put(p, new Path[] {out, err});
      return p;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private final Map<Process, Path[]> outputs = new java.util.concurrent.ConcurrentHashMap<>();

  /** Waits for a process from {@link #start}. */
  Result finish(Process p) {
    try {
      if (!p.waitFor(RUN_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        throw new AssertionError("cachectl " + p.info().commandLine().orElse("?") + " did not finish in time");
      }
      return result(p);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    } finally {
      Cleanup.killTree(p);
    }
  }

  private Result result(Process p) {
    Path[] files = outputs.remove(p);
    try {
      return new Result(p.exitValue(), Files.readAllBytes(files[0]), Files.readString(files[1]));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The pid of the daemon that answers {@code stats} now (starting one if none runs). */
  long daemonPid() {
    return Long.parseLong(run("stats").expect(0).fact("pid"));
  }

  /**
   * Kills the daemon {@code pid} with SIGKILL, after checking that it is this test's: the pid its
   * lockfile in this test's runtime directory names, running {@link CacheBackend}.
   */
  void kill9(long pid) throws IOException {
    String lock = Files.readString(fastbindDir().resolve(CacheBackend.SERVICE + ".lock"));
    assertTrue(lock.contains("\npid=" + pid + "\n"), "the lockfile does not name pid " + pid + ": " + lock);
    String command = ProcessHandle.of(pid).flatMap(h -> h.info().commandLine()).orElse("");
    assertTrue(command.contains(CacheBackend.class.getName()), "pid " + pid + " is not a cache daemon: " + command);
    Signals.kill(pid);
    Signals.awaitGone(pid, Duration.ofSeconds(15));
  }

  /** The socket and lockfile names left in the runtime directory. */
  List<String> endpointFilesLeft() throws IOException {
    if (!Files.isDirectory(fastbindDir())) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(fastbindDir())) {
      return files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".sock") || n.endsWith(".ctl") || n.endsWith(".lock")).sorted().toList();
    }
  }

  /** Stops every daemon of this runtime directory through the broker and checks {@code seen} are gone. */
  void stopAll(Set<Long> seen) throws IOException {
    if (Files.isDirectory(fastbindDir())) {
      Broker broker = Broker.create();
      for (var daemon : broker.list(fastbindDir())) {
        broker.stop(daemon, Duration.ofSeconds(5));
      }
    }
    for (long pid : seen) {
      Signals.awaitGone(pid, Duration.ofSeconds(15));
    }
  }

  /** A JVM running {@link CacheDemo} on the script, with its temporary files in {@code tmp}. */
  static ProcessBuilder demo(Path tmp) {
    return JavaCommand.of(CacheDemo.class).light().jvmOptions("-Djava.io.tmpdir=" + tmp)
        .args(script().toString()).processBuilder().redirectErrorStream(true);
  }
}
