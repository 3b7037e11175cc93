package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.broker.RuntimeFileException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
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
 * A regular file in any other shape counts as empty (it only ever holds a count, so a torn write costs at
 * most one extra spawn). A daemon the broker stops or replaces on purpose clears the count
 * ({@link #forget}): only spawns that end without the broker's say-so add up to a crash loop.
 * Anything but a regular file at the path (a link, a directory, a FIFO) is reported, never deleted,
 * and never blocks the launcher ({@link RuntimeFiles}). Callers hold the service's {@link SpawnLock}.
 */
public final class CrashLoopGuard {
  private static final String HEADER = "fastbind-spawns 1";
  /** The most of the file that is read: far more than any limit's worth of lines; past it the file counts as empty. */
  static final int MAX_BYTES = 1 << 20;

  private CrashLoopGuard() {}

  /**
   * Records a spawn at {@code now} unless {@code limit} spawns already happened within {@code period};
   * then returns how long until the oldest leaves the period, and records nothing.
   *
   * @throws RuntimeFileException if something other than a regular file is at {@code file} (or at its
   *     temp file {@code <file>.tmp}), or it cannot be written (a full disk); the temp file is removed
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
    RuntimeFiles.replace(file, RuntimeFiles.tempOf(file), b.toString().getBytes(StandardCharsets.US_ASCII));
    return Optional.empty();
  }

  /**
   * Forgets every recorded spawn: the broker ended the service's daemon on purpose, so the spawns so
   * far were not a crash loop. Only a regular file is deleted; anything else at the path is left for
   * {@link #tryRecord} to report. Callers hold the service's {@link SpawnLock}.
   */
  public static void forget(Path file) throws IOException {
    RuntimeFiles.deleteIfRegular(file);
  }

  /**
   * The recorded times; empty for a missing file or one in another shape (or larger than
   * {@link #MAX_BYTES}). Reads at most {@link #MAX_BYTES} + 1 bytes, whatever the file's size.
   *
   * @throws RuntimeFileException if something other than a regular file is there: it is reported, never deleted
   */
  private static List<Long> read(Path file, String boot) throws RuntimeFileException {
    List<Long> times = new ArrayList<>();
    byte[] bytes;
    Optional<RuntimeFiles.Regular> opened = RuntimeFiles.openRegular(file);
    if (opened.isEmpty()) {
      return times;
    }
    try (RuntimeFiles.Regular r = opened.get()) {
      bytes = r.read(0, (int) Math.min(MAX_BYTES + 1L, Math.max(0, r.size()) + 1));
    }
    if (bytes.length > MAX_BYTES) {
      return times;
    }
    String[] lines = new String(bytes, StandardCharsets.US_ASCII).split("\n", -1);
    if (lines.length < 3 || !lines[0].equals(HEADER) || !lines[1].equals("boot " + boot)) {
      return times;
    }
    for (int i = 2; i < lines.length; i++) {
      String line = lines[i].trim();
      if (line.isEmpty() && i == lines.length - 1) {
        break;
      }
      try {
        times.add(Long.parseLong(line));
      } catch (NumberFormatException e) {
        return new ArrayList<>();
      }
    }
    return times;
  }
}
