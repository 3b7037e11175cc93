package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/** Test helpers: daemon definitions, waiting on conditions, and the process table. */
final class Fixtures {
  private Fixtures() {}

  /** Light JVM flags so that many test JVMs fit on two cores. */
  static final String[] LIGHT_JVM = {"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-Xmx64m"};

  /** A generous budget for tests about behaviour rather than speed: a loaded CI machine starts JVMs slowly. */
  static final Duration PATIENT = Duration.ofSeconds(10);

  static String marker(Path dir) {
    return "--marker=" + dir;
  }

  /** A definition running {@link TestDaemon} in {@code mode}, marked with {@code dir}. */
  static ServiceDefinition.Builder daemon(Path dir, String name, String... modeAndArgs) {
    String[] args = Arrays.copyOf(modeAndArgs, modeAndArgs.length + 2);
    args[modeAndArgs.length] = marker(dir);
    args[modeAndArgs.length + 1] = "--lifetime=60";
    return ServiceDefinition.builder(name)
        .javaMain(TestDaemon.class.getName(), args)
        .javaOptions(LIGHT_JVM)
        .runtimeDirectory(dir)
        .probeBudget(PATIENT);
  }

  /** Live processes whose arguments carry {@code dir}'s marker. */
  static List<ProcessHandle> marked(Path dir) {
    String m = marker(dir);
    return ProcessHandle.allProcesses()
        .filter(ProcessHandle::isAlive)
        .filter(h -> h.info().arguments().map(a -> Arrays.asList(a).contains(m)).orElse(false))
        .collect(Collectors.toList());
  }

  /** Kills every marked process of {@code dir} and waits until the process table has none. */
  static void killMarked(Path dir) throws Exception {
    List<ProcessHandle> all = marked(dir);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    for (ProcessHandle h : all) {
      h.destroyForcibly();
      Fixtures.kill("CONT", h.pid());
    }
    for (ProcessHandle h : all) {
      h.onExit().get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    }
    if (!marked(dir).isEmpty()) {
      fail("marked processes still alive: " + marked(dir));
    }
  }

  /**
   * Re-checks {@code condition} until it holds or a monotonic deadline passes (then fails with
   * {@code message}); for states no event announces, such as a file appearing.
   */
  static void await(Duration timeout, BooleanSupplier condition, Supplier<String> message) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        fail(message.get());
      }
      LockSupport.parkNanos(Math.min(left, TimeUnit.MILLISECONDS.toNanos(5)));
    }
  }

  /** Sends {@code signal} to {@code pid} with the kill program and waits for it to finish. */
  static void kill(String signal, long pid) throws Exception {
    if (pid <= 1) {
      fail("refusing to signal pid " + pid);
    }
    run("kill", "-" + signal, Long.toString(pid));
    if (signal.equals("STOP")) {
      // kill(1) returns once the signal is queued; every thread of a JVM stops a little later.
      // Tests mean "the daemon is stopped", so wait until /proc says so.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (true) {
        dev.fastbind.backend.internal.ProcessIdentity.Stat stat = dev.fastbind.backend.internal.ProcessIdentity.stat(pid);
        if (stat != null && stat.stopped()) {
          return;
        }
        if (System.nanoTime() - deadline > 0) {
          fail("pid " + pid + " not stopped 10 s after SIGSTOP: " + stat);
        }
        Thread.onSpinWait();
      }
    }
  }

  /**
   * Sends {@code signal} to process group {@code pgid}. The {@code --} matters: procps-ng 4.0's kill
   * misreads a bare negative number.
   */
  static void killGroup(String signal, long pgid) throws Exception {
    if (pgid <= 1) {
      fail("refusing to signal process group " + pgid);
    }
    run("kill", "-" + signal, "--", "-" + pgid);
  }

  private static void run(String... command) throws Exception {
    Process p = new ProcessBuilder(command)
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    try {
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        fail(String.join(" ", command) + " did not finish");
      }
    } finally {
      p.destroyForcibly();
    }
  }
}
