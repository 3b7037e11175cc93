package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.ProcessIdentity;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Counts recent spawns of a service in a small file in the runtime directory, so that separate
 * launcher processes share one crash-loop limit.
 *
 * <p>Times are {@link System#nanoTime()} values, which on Linux read {@code CLOCK_MONOTONIC}: one
 * clock for every process until the next boot, immune to wall-clock changes. The file records the
 * boot id it was written in; after a reboot its times mean nothing and it counts as empty. The format
 * is a version line, the boot id, then one time per line:
 *
 * <pre>
 * fastbind-spawns 1
 * boot 5f0d…
 * 123456789012
 * </pre>
 *
 * A file in any other shape counts as empty (it only ever holds a count, so a torn write costs at
 * most one extra spawn). A daemon the broker stops or replaces on purpose clears the count
 * ({@link #forget}): only spawns that end without the broker's say-so add up to a crash loop.
 * Callers hold the service's {@link SpawnLock}.
 */
public final class CrashLoopGuard {
  private static final String HEADER = "fastbind-spawns 1";

  private CrashLoopGuard() {}

  /**
   * Records a spawn at {@code now} unless {@code limit} spawns already happened within {@code period};
   * then returns how long until the oldest leaves the period, and records nothing.
   */
  public static Optional<Duration> tryRecord(Path file, int limit, Duration period, long now) throws IOException {
    String boot = ProcessIdentity.bootId();
    List<Long> recent = new ArrayList<>();
    long periodNanos = period.toNanos();
    for (long t : read(file, boot)) {
      if (now - t < periodNanos && now - t >= 0) {
        recent.add(t);
      }
    }
    if (recent.size() >= limit) {
      long oldest = recent.stream().mapToLong(Long::longValue).min().orElse(now);
      return Optional.of(Duration.ofNanos(Math.max(0, oldest + periodNanos - now)));
    }
    recent.add(now);
    StringBuilder b = new StringBuilder(HEADER).append('\n').append("boot ").append(boot).append('\n');
    for (long t : recent) {
      b.append(t).append('\n');
    }
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.deleteIfExists(tmp);
    Files.write(Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))),
        b.toString().getBytes(StandardCharsets.US_ASCII), StandardOpenOption.WRITE);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    return Optional.empty();
  }

  /**
   * Forgets every recorded spawn: the broker ended the service's daemon on purpose, so the spawns so
   * far were not a crash loop. Callers hold the service's {@link SpawnLock}.
   */
  public static void forget(Path file) throws IOException {
    Files.deleteIfExists(file);
  }

  private static List<Long> read(Path file, String boot) throws IOException {
    List<Long> times = new ArrayList<>();
    if (Files.isSymbolicLink(file) || !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
      Files.deleteIfExists(file);
      return times;
    }
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.US_ASCII);
    } catch (IOException e) {
      return times;
    }
    if (lines.size() < 2 || !lines.get(0).equals(HEADER) || !lines.get(1).equals("boot " + boot)) {
      return times;
    }
    for (String line : lines.subList(2, lines.size())) {
      try {
        times.add(Long.parseLong(line.trim()));
      } catch (NumberFormatException e) {
        return new ArrayList<>();
      }
    }
    return times;
  }
}
