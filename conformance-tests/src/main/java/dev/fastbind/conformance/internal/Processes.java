package dev.fastbind.conformance.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

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
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(javaOptions);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(mainClass);
    ProcessBuilder pb = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
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

  /** Waits until {@code pid} is gone; false if it still runs at the deadline. */
  public static boolean awaitGone(long pid, Duration timeout) throws InterruptedException {
    Optional<ProcessHandle> handle = ProcessHandle.of(pid);
    if (handle.isEmpty()) {
      return true;
    }
    try {
      handle.get().onExit().get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (ExecutionException e) {
      throw new IllegalStateException("waiting for pid " + pid + " failed", e.getCause());
    }
  }

  /** Kills {@code pid} and its descendants with SIGKILL and waits (bounded) for them to go. */
  public static void killTree(long pid, Duration timeout) throws InterruptedException {
    Optional<ProcessHandle> handle = ProcessHandle.of(pid);
    if (handle.isEmpty()) {
      return;
    }
    List<ProcessHandle> all = new ArrayList<>(handle.get().descendants().toList());
    all.add(handle.get());
    all.forEach(ProcessHandle::destroyForcibly);
    for (ProcessHandle h : all) {
      awaitGone(h.pid(), timeout);
    }
  }
}
