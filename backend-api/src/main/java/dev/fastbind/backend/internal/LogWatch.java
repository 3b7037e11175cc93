package dev.fastbind.backend.internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Keeps the daemon's log ({@code s.log}, the file its stdout and stderr append to) within a limit
 * while the daemon runs: a daemon thread looks at the file's size every {@value #PERIOD_MILLIS} ms (sooner
 * while it grows fast) and,
 * past the limit, copies it to {@code s.log.1} (shifting {@code s.log.1} to {@code s.log.2} and so on,
 * dropping the oldest generation) and truncates the live file in place. This is copy-truncate, not a
 * rename, because the writers are file descriptors 1 and 2 of this process and of anything it
 * started, opened {@code O_APPEND} by the broker: after the truncation they continue at offset 0,
 * output written straight to the descriptors included, and nothing has to reopen the file.
 *
 * <p>Lines written between the copy and the truncation are lost. The bound is the limit plus what
 * the daemon writes between two looks (at most {@value #PERIOD_MILLIS} ms apart, much sooner while
 * it writes fast, see {@link #start}), and each of the {@code generations} older files holds at
 * most about as much.
 */
final class LogWatch {
  private LogWatch() {}

  static final long PERIOD_MILLIS = 200;

  /** The regular file this process's stdout goes to, if it is one ({@code /proc/self/fd/1}). */
  static Optional<Path> stdoutFile() {
    try {
      Path fd1 = Path.of("/proc/self/fd/1");
      if (!Files.isSymbolicLink(fd1)) {
        return Optional.empty();
      }
      Path target = Files.readSymbolicLink(fd1);
      if (!target.isAbsolute() || !Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS)) {
        return Optional.empty();
      }
      return Optional.of(target);
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * Parses {@code bytes:generations} ({@link dev.fastbind.backend.internal.wire.Env#LOG_LIMIT}); empty
   * for none, a zero limit, or text that is not two numbers.
   */
  static Optional<long[]> parse(String text) {
    if (text == null || text.isBlank()) {
      return Optional.empty();
    }
    int colon = text.indexOf(':');
    try {
      long bytes = Long.parseLong((colon < 0 ? text : text.substring(0, colon)).trim());
      long gens = colon < 0 ? 3 : Long.parseLong(text.substring(colon + 1).trim());
      return bytes <= 0 ? Optional.empty() : Optional.of(new long[] {bytes, Math.max(0, Math.min(gens, 100))});
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** The shortest pause between two looks, while the log grows fast. */
  static final long MIN_PERIOD_MILLIS = 5;

  /**
   * Starts the watch of {@code log}. It looks every {@value #PERIOD_MILLIS} ms, and sooner while the
   * log grows fast: the next look comes about when the growth seen since the last one would reach
   * the limit (at least {@value #MIN_PERIOD_MILLIS} ms apart), so a fast writer overshoots the limit
   * by little more than what it writes in a few milliseconds, scheduling delays aside.
   */
  static void start(Path log, long limit, int generations) {
    Thread t = new Thread(() -> {
      long lastSize = -1;
      long lastNanos = System.nanoTime();
      long pauseMillis = PERIOD_MILLIS;
      while (true) {
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(pauseMillis));
        try {
          long size = Files.size(log);
          long now = System.nanoTime();
          if (size > limit) {
            rotate(log, generations);
            size = Files.size(log);
          }
          long grown = lastSize < 0 || size < lastSize ? size : size - lastSize;
          long elapsedMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(now - lastNanos));
          double untilLimit = grown <= 0 ? PERIOD_MILLIS : (double) Math.max(0, limit - size) * elapsedMillis / grown / 2;
          pauseMillis = (long) Math.max(MIN_PERIOD_MILLIS, Math.min(PERIOD_MILLIS, untilLimit));
          lastSize = size;
          lastNanos = now;
        } catch (IOException | RuntimeException e) {
          pauseMillis = PERIOD_MILLIS; // the log vanished or cannot be read now; look again next period
        }
      }
    }, "fastbind-log-watch");
    t.setDaemon(true);
    t.start();
  }

  /** One copy-truncate of {@code log}, keeping {@code generations} older files. */
  static void rotate(Path log, int generations) throws IOException {
    if (!Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    if (generations > 0) {
      for (int g = generations; g >= 1; g--) {
        Path older = generation(log, g);
        if (g == generations) {
          DeathRecords.deleteIfRegular(older);
        } else if (Files.isRegularFile(older, LinkOption.NOFOLLOW_LINKS)) {
          Files.move(older, generation(log, g + 1), StandardCopyOption.REPLACE_EXISTING);
        }
      }
      Path first = generation(log, 1);
      if (Files.exists(first, LinkOption.NOFOLLOW_LINKS)) {
        DeathRecords.deleteIfRegular(first);
      }
      try (FileChannel in = FileChannel.open(log, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
          FileChannel out = FileChannel.open(first, java.util.Set.of(StandardOpenOption.WRITE,
              StandardOpenOption.CREATE_NEW, LinkOption.NOFOLLOW_LINKS),
              java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                  java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")))) {
        long size = in.size();
        long done = 0;
        while (done < size) {
          long n = in.transferTo(done, size - done, out);
          if (n <= 0) {
            break;
          }
          done += n;
        }
      }
    }
    try (FileChannel live = FileChannel.open(log, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
      live.truncate(0);
    }
  }

  /** {@code s.log.g}. */
  static Path generation(Path log, int g) {
    return log.resolveSibling(log.getFileName() + "." + g);
  }
}
