package dev.fastbind.conformance.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * Process helpers for the out-of-process rules: start a daemon's main class directly (without the
 * broker), wait for exits against a deadline, kill what is left. Every wait is bounded.
 */
public final class Processes {

  private Processes() {}

  /**
   * Starts {@code mainClass} in a fresh JVM on this JVM's class path, with a clean fastbind
   * environment plus {@code env}, output appended to {@code log}, stdin from {@code /dev/null}.
   */
  public static Process startJava(String mainClass, List<String> javaOptions, Map<String, String> env, Path log)
      throws IOException {
    return startJava(mainClass, javaOptions, env, log, null);
  }

  /**
   * {@link #startJava(String, List, Map, Path)}, with standard error apart in {@code err} (appended
   * to {@code log} when null), for a rule that counts what a daemon prints there.
   */
  public static Process startJava(String mainClass, List<String> javaOptions, Map<String, String> env, Path log,
      Path err) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(javaOptions);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(mainClass);
    ProcessBuilder pb = new ProcessBuilder(command)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
    if (err == null) {
      pb.redirectErrorStream(true);
    } else {
      pb.redirectError(ProcessBuilder.Redirect.appendTo(err.toFile()));
    }
    pb.environment().keySet().removeIf(k -> k.startsWith("FASTBIND_") || k.startsWith("LISTEN_"));
    pb.environment().putAll(env);
    return pb.start();
  }

  /** Waits until {@code process} exits; empty if it still runs at the deadline. */
  public static Optional<Integer> awaitExit(Process process, Duration timeout) throws InterruptedException {
    if (process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
      return Optional.of(process.exitValue());
    }
    return Optional.empty();
  }

  /**
   * Waits until {@code process} exits, or {@code stop} holds (asked every few milliseconds), or the
   * timeout passes; the exit status if it exited.
   */
  public static Optional<Integer> awaitExitUnless(Process process, Duration timeout, BooleanSupplier stop)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (!stop.getAsBoolean()) {
      long left = end - System.nanoTime();
      if (left <= 0) {
        break;
      }
      if (process.waitFor(Math.min(left, TimeUnit.MILLISECONDS.toNanos(5)), TimeUnit.NANOSECONDS)) {
        return Optional.of(process.exitValue());
      }
    }
    return process.isAlive() ? Optional.empty() : Optional.of(process.exitValue());
  }

  /**
   * The lines of {@code stream} (a process's standard error) that the process printed itself: the
   * JVM's own {@code WARNING:} lines (JDK 24 and later warn when a library loads native code, and
   * end the warning with a blank line), {@code Picked up …} lines (for {@code JAVA_TOOL_OPTIONS} and
   * the like) and blank lines are left out.
   */
  public static List<String> ownLines(Path stream) throws IOException {
    List<String> own = new ArrayList<>();
    for (String line : Files.readAllLines(stream, StandardCharsets.UTF_8)) {
      if (!line.isBlank() && !line.startsWith("WARNING: ") && !line.startsWith("Picked up ")) {
        own.add(line);
      }
    }
    return own;
  }

  /** Waits until {@code pid} is gone; false if it still runs at the deadline. */
  public static boolean awaitGone(long pid, Duration timeout) throws InterruptedException {
    Optional<ProcessHandle> handle = ProcessHandle.of(pid);
    return handle.isEmpty() || awaitGone(handle.get(), timeout);
  }

  private static boolean awaitGone(ProcessHandle handle, Duration timeout) throws InterruptedException {
    try {
      handle.onExit().get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (ExecutionException e) {
      throw new IllegalStateException("waiting for pid " + handle.pid() + " failed", e.getCause());
    }
  }

  /**
   * Kills {@code process} and its descendants with SIGKILL and waits (bounded) for them to go. A
   * handle taken while the process ran signals nothing once it has exited, even if its pid was reused.
   */
  public static void killTree(ProcessHandle process, Duration timeout) throws InterruptedException {
    if (!process.isAlive()) {
      return;
    }
    List<ProcessHandle> all = new ArrayList<>(process.descendants().toList());
    all.add(process);
    all.forEach(ProcessHandle::destroyForcibly);
    for (ProcessHandle h : all) {
      awaitGone(h, timeout);
    }
  }

}
