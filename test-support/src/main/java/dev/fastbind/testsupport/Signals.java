package dev.fastbind.testsupport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Sends signals with the system's {@code kill} program and waits until {@code /proc} shows their
 * effect. {@code kill(1)} returns once a signal is queued: a JVM's threads stop a moment after
 * {@code SIGSTOP}, and a killed process leaves the table a moment after {@code SIGKILL}. A test
 * that means "the daemon is stopped" calls {@link #stop}, not {@link #send}.
 *
 * <p>As a guard against a wrong number (a pid of 0, a parsed -1, the JVM's own pid), signals to pid
 * 0 or 1, to the test JVM itself and to the test JVM's own process group are refused with an
 * {@link IllegalArgumentException} before anything is sent.
 */
public final class Signals {
  /** How long {@link #stop}, {@link #kill} and the one-argument waits wait. */
  public static final Duration DEFAULT_WAIT = Duration.ofSeconds(10);

  private static final Path[] KILL = {Path.of("/bin/kill"), Path.of("/usr/bin/kill")};

  private Signals() {}

  /** Sends {@code signal} ({@code "STOP"}, {@code "KILL"}, {@code "TERM"}...) to {@code pid}; does not wait for its effect. */
  public static void send(String signal, long pid) {
    checkTarget(pid, "pid");
    if (pid == ProcState.self().processGroup()) {
      throw new IllegalArgumentException("refusing to signal pid " + pid + ": it leads the test JVM's process group");
    }
    run(kill(), "-" + name(signal), Long.toString(pid));
  }

  /** Sends {@code signal} to every process of group {@code pgid}; does not wait for its effect. */
  public static void sendToGroup(String signal, long pgid) {
    checkTarget(pgid, "process group");
    if (pgid == ProcState.self().processGroup()) {
      throw new IllegalArgumentException("refusing to signal process group " + pgid + ": the test JVM's own");
    }
    // The "--" matters: procps-ng 4.0's kill misreads a bare negative number.
    run(kill(), "-" + name(signal), "--", "-" + pgid);
  }

  /** Sends {@code SIGSTOP} to {@code pid} and returns once {@code /proc} shows it stopped. */
  public static void stop(long pid) {
    send("STOP", pid);
    awaitStopped(pid, DEFAULT_WAIT);
  }

  /** Sends {@code SIGKILL} to {@code pid} and returns once it is gone (see {@link #awaitGone}). */
  public static void kill(long pid) {
    send("KILL", pid);
    awaitGone(pid, DEFAULT_WAIT);
  }

  /** Waits until {@code pid} is stopped (state {@code T} or {@code t}); fails if it is gone or the deadline passes. */
  public static void awaitStopped(long pid, Duration timeout) {
    Await.until(timeout, () -> {
      Optional<ProcState> s = ProcState.read(pid);
      if (s.isEmpty() || s.get().ended()) {
        throw new AssertionError("pid " + pid + " ended while it was awaited to stop: " + s);
      }
      return s.get().stopped();
    }, () -> "pid " + pid + " not stopped; /proc says " + ProcState.read(pid));
  }

  /** {@link #awaitStopped(long, Duration)} within {@link #DEFAULT_WAIT}. */
  public static void awaitStopped(long pid) {
    awaitStopped(pid, DEFAULT_WAIT);
  }

  /**
   * Waits until {@code pid} is gone from {@code /proc}, as {@link ProcessHandle#of} sees it. A zombie
   * is not gone: it keeps its pid and start time until its parent reaps it, so a check by pid and
   * start time (the broker's) still finds it. The JDK reaps a test's own children at once.
   */
  public static void awaitGone(long pid, Duration timeout) {
    Await.until(timeout, () -> isGone(pid), () -> "pid " + pid + " still running; /proc says " + ProcState.read(pid));
  }

  /** {@link #awaitGone(long, Duration)} within {@link #DEFAULT_WAIT}. */
  public static void awaitGone(long pid) {
    awaitGone(pid, DEFAULT_WAIT);
  }

  /** Whether {@code pid} is gone in the sense of {@link #awaitGone}. */
  public static boolean isGone(long pid) {
    return ProcState.read(pid).isEmpty();
  }

  private static void checkTarget(long id, String what) {
    if (id <= 1) {
      throw new IllegalArgumentException("refusing to signal " + what + " " + id);
    }
    if (id == ProcessHandle.current().pid()) {
      throw new IllegalArgumentException("refusing to signal " + what + " " + id + ": the test JVM itself");
    }
  }

  private static String name(String signal) {
    String s = signal.toUpperCase(Locale.ROOT);
    s = s.startsWith("SIG") ? s.substring(3) : s;
    if (!s.matches("[A-Z0-9+-]+")) {
      throw new IllegalArgumentException("not a signal name: " + signal);
    }
    return s;
  }

  private static String kill() {
    for (Path k : KILL) {
      if (Files.isExecutable(k)) {
        return k.toString();
      }
    }
    throw new IllegalStateException("no kill program at /bin/kill or /usr/bin/kill (Debian package procps)");
  }

  private static void run(String... command) {
    List<String> cmd = new ArrayList<>(List.of(command));
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new AssertionError("could not run " + String.join(" ", cmd), e);
    }
    try {
      if (!p.waitFor(DEFAULT_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError(String.join(" ", cmd) + " did not finish within " + DEFAULT_WAIT);
      }
      if (p.exitValue() != 0) {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        throw new AssertionError(String.join(" ", cmd) + " failed with status " + p.exitValue() + ": " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted running " + String.join(" ", cmd), e);
    } catch (IOException e) {
      throw new AssertionError("could not read the output of " + String.join(" ", cmd), e);
    } finally {
      p.destroyForcibly();
    }
  }
}
