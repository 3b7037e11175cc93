package dev.fastbind.conformance.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Descriptor limits of another process, for the rule that runs a daemon out of descriptors: reads
 * {@code /proc/PID/fd} and {@code /proc/PID/limits}, sets the soft limit with util-linux's
 * {@code prlimit}. Linux only; {@link #available()} says whether it can work here.
 */
public final class Descriptors {
  private static final Path PRLIMIT = Path.of("/usr/bin/prlimit");

  private Descriptors() {}

  /** Empty if the limits of a process can be read and set here; otherwise why not. */
  public static Optional<String> unavailableBecause() {
    if (!Files.isDirectory(Path.of("/proc/self/fd"))) {
      return Optional.of("no /proc/PID/fd on this platform (" + System.getProperty("os.name") + ")");
    }
    if (!Files.isExecutable(PRLIMIT)) {
      return Optional.of("no " + PRLIMIT + " (util-linux) to set a daemon's descriptor limit");
    }
    return Optional.empty();
  }

  /**
   * The lowest descriptor number {@code pid} does not use: with the soft limit set to it, the next
   * descriptor the process asks for fails with {@code EMFILE}; set to it plus one, exactly one more
   * can be opened.
   */
  public static int lowestFree(long pid) throws IOException {
    TreeSet<Integer> used = new TreeSet<>();
    try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      fds.forEach(p -> used.add(Integer.parseInt(p.getFileName().toString())));
    }
    int n = 0;
    while (used.contains(n)) {
      n++;
    }
    return n;
  }

  /** The soft limit on open files of {@code pid}, from {@code /proc/PID/limits} ("unlimited" as -1). */
  public static long softLimit(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/limits"), StandardCharsets.UTF_8)) {
      if (line.startsWith("Max open files")) {
        String[] f = line.substring("Max open files".length()).trim().split("\\s+");
        return f[0].equals("unlimited") ? -1 : Long.parseLong(f[0]);
      }
    }
    throw new IOException("no 'Max open files' line in /proc/" + pid + "/limits");
  }

  /** Sets the soft limit on open files of {@code pid} ({@code -1}: unlimited), leaving the hard limit. */
  public static void setSoftLimit(long pid, long soft, Duration timeout) throws IOException, InterruptedException {
    String value = soft < 0 ? "unlimited" : Long.toString(soft);
    Process p = new ProcessBuilder(List.of(PRLIMIT.toString(), "--pid", Long.toString(pid), "--nofile=" + value + ":"))
        .redirectErrorStream(true).start();
    if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      p.destroyForcibly();
      throw new IOException("prlimit --pid " + pid + " did not finish within " + timeout);
    }
    if (p.exitValue() != 0) {
      throw new IOException("prlimit --pid " + pid + " --nofile=" + value + ": failed: "
          + new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());
    }
  }
}
