package dev.fastbind.backend.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Who a process is, beyond its pid: the checks that let a broker tell a live daemon from a dead
 * one whose pid was reused.
 *
 * <p>A pid alone is not an identity: the kernel hands it out again after the process exits. A pid
 * plus the process's start time is. On Linux the start time is field 22 of {@code /proc/<pid>/stat}
 * (clock ticks since boot), read as a token {@code ticks:<n>}; elsewhere it is
 * {@link ProcessHandle.Info#startInstant()} as {@code instant:<epoch millis>}. The prefix keeps tokens
 * from different sources from ever comparing equal by accident. Because ticks count from boot, a
 * lockfile also records {@link #bootId()}.
 *
 * <p>Everything here is cheap enough for the broker's hot path, which calls {@link #stat(long)} on
 * every launcher invocation: one small procfs read, no process spawned. Only values that cannot
 * change while this JVM runs (its own pid, boot id, uid, whether procfs exists) are cached; start
 * times never are.
 */
public final class ProcessIdentity {

  private static final String PROC = "/proc";

  private ProcessIdentity() {}

  /**
   * This JVM's pid: where procfs exists, the target of {@code /proc/self} (one readlink, without
   * initialising {@link ProcessHandle}'s machinery on a daemon's way to readiness), else
   * {@link ProcessHandle#pid()}.
   */
  public static long currentPid() {
    return Platform.PID;
  }

  /**
   * The start-time token of process {@code pid}, or empty if no such process is running. A process
   * that has exited but not yet been reaped (a zombie) counts as not running.
   *
   * @throws IllegalArgumentException if {@code pid} is not positive
   */
  public static Optional<String> startTime(long pid) {
    if (pid <= 0) {
      throw new IllegalArgumentException("pid must be positive, was " + pid);
    }
    if (Platform.HAS_PROC) {
      Stat s = stat(pid);
      return s == null || s.exited() ? Optional.empty() : Optional.of(s.startTime());
    }
    Optional<ProcessHandle> handle = ProcessHandle.of(pid);
    if (handle.isEmpty() || !handle.get().isAlive()) {
      return Optional.empty();
    }
    Optional<java.time.Instant> started = handle.get().info().startInstant();
    return started.isEmpty() ? Optional.empty() : Optional.of("instant:" + started.get().toEpochMilli());
  }

  /**
   * One reading of a process's line in {@code /proc/<pid>/stat} (Linux): its scheduling state, its
   * process group and its start-time token, all from a single read, so that the broker's hot path
   * learns "same process?" and "stopped?" with one procfs read.
   *
   * @param state the state letter ({@code R}, {@code S}, {@code T}, {@code Z}…)
   * @param processGroup the process group id
   * @param startTime the start-time token, {@code ticks:<n>}, as {@link #startTime(long)} returns it
   */
  public record Stat(char state, long processGroup, String startTime) {

    /** Whether the process is stopped by a signal or a tracer. */
    public boolean stopped() {
      return state == 'T' || state == 't';
    }

    /** Whether the process has exited (a zombie not yet reaped, or dead): it does not count as running. */
    public boolean exited() {
      return state == 'Z' || state == 'X';
    }
  }

  /**
   * Reads {@code /proc/<pid>/stat} once; null when there is no such process, no procfs, or the line
   * cannot be parsed. A zombie is returned (see {@link Stat#exited()}).
   *
   * <p>Cheap on purpose, for the broker's hot path: one open, usually one read (procfs hands the whole
   * line at once; reading stops at its newline), one close; no regular expression, no splitting, and
   * one small string for the token.
   *
   * @throws IllegalArgumentException if {@code pid} is not positive
   */
  public static Stat stat(long pid) {
    if (pid <= 0) {
      throw new IllegalArgumentException("pid must be positive, was " + pid);
    }
    if (!Platform.HAS_PROC) {
      return null;
    }
    try (FileChannel ch = openStat(pid)) {
      return ch == null ? null : readStat(ch);
    } catch (IOException e) {
      return null; // closing a read-only procfs file
    }
  }

  /**
   * Opens {@code /proc/<pid>/stat} for repeated {@linkplain #readStat(FileChannel) readings}; null when
   * there is no such process or no procfs.
   *
   * <p>An open stat file stays bound to the process it was opened for: once that process is gone, a
   * read fails (ESRCH) even if the pid has been handed to a new process. So a caller that keeps the
   * channel learns "same process?" with one positional read and no path lookup, and can never be
   * fooled by pid reuse; when a read fails it closes the channel and opens afresh.
   *
   * @throws IllegalArgumentException if {@code pid} is not positive
   */
  public static FileChannel openStat(long pid) {
    if (pid <= 0) {
      throw new IllegalArgumentException("pid must be positive, was " + pid);
    }
    if (!Platform.HAS_PROC) {
      return null;
    }
    try {
      return FileChannel.open(Path.of(PROC, Long.toString(pid), "stat"));
    } catch (IOException e) {
      return null; // no such process (NoSuchFileException), or procfs refused
    }
  }

  /**
   * Reads and parses a stat file opened by {@link #openStat(long)}, from its start; null when the
   * process is gone (ESRCH) or the line cannot be parsed. One read usually suffices: procfs hands the
   * whole line at once, and reading stops at its newline.
   */
  public static Stat readStat(FileChannel ch) {
    ByteBuffer buf = ByteBuffer.allocate(512);
    try {
      while (true) {
        if (!buf.hasRemaining()) {
          if (buf.capacity() >= MAX_STAT_BYTES) {
            return null;
          }
          buf = ByteBuffer.allocate(buf.capacity() * 2).put(buf.flip());
        }
        // a positional read at the file offset of what has arrived so far; the channel's position is unused
        if (ch.read(buf, buf.position()) < 0) {
          break;
        }
        if (buf.position() > 0 && buf.get(buf.position() - 1) == '\n') {
          break;
        }
      }
    } catch (IOException e) {
      // The process is gone (ESRCH), the channel was closed, or procfs refused.
      return null;
    }
    return parseStat(buf.array(), buf.position());
  }

  private static final int MAX_STAT_BYTES = 8192;

  /**
   * Parses a stat line: {@code pid (comm) state ppid pgrp ...}; comm may contain spaces and ')', so
   * fields are counted after the last ')'. Field 3 is the state, 5 the process group, 22 the start
   * time in clock ticks since boot.
   */
  static Stat parseStat(byte[] b, int n) {
    int close = -1;
    for (int i = n - 1; i >= 0; i--) {
      if (b[i] == ')') {
        close = i;
        break;
      }
    }
    if (close < 0) {
      return null;
    }
    char state = 0;
    long group = -1;
    int startFrom = -1;
    int startTo = -1;
    int field = 2; // the comm field ends at close
    int i = close + 1;
    while (i < n && field < 22) {
      while (i < n && b[i] == ' ') {
        i++;
      }
      int from = i;
      while (i < n && b[i] != ' ' && b[i] != '\n') {
        i++;
      }
      if (from == i) {
        break;
      }
      field++;
      if (field == 3) {
        if (i - from != 1) {
          return null;
        }
        state = (char) (b[from] & 0xff);
      } else if (field == 5) {
        group = parseDigits(b, from, i);
        if (group < 0) {
          return null;
        }
      } else if (field == 22) {
        if (parseDigits(b, from, i) < 0) {
          return null;
        }
        startFrom = from;
        startTo = i;
      }
    }
    if (field < 22) {
      return null;
    }
    StringBuilder token = new StringBuilder(6 + startTo - startFrom).append("ticks:");
    for (int k = startFrom; k < startTo; k++) {
      token.append((char) b[k]);
    }
    return new Stat(state, group, token.toString());
  }

  /** The non-negative decimal number in {@code b[from, to)}, or -1 if it is not one (or too long). */
  private static long parseDigits(byte[] b, int from, int to) {
    if (from >= to || to - from > 18) {
      return -1;
    }
    long v = 0;
    for (int k = from; k < to; k++) {
      int d = b[k] - '0';
      if (d < 0 || d > 9) {
        return -1;
      }
      v = v * 10 + d;
    }
    return v;
  }

  /**
   * This boot's id from {@code /proc/sys/kernel/random/boot_id}, or {@code unknown} where the
   * platform has none.
   */
  public static String bootId() {
    return Platform.BOOT_ID;
  }

  /** True if {@code pid} is running and started at {@code recordedStartTime}; false for a reused pid. */
  public static boolean isSameProcess(long pid, String recordedStartTime) {
    Objects.requireNonNull(recordedStartTime, "recordedStartTime");
    Optional<String> started = startTime(pid);
    return started.isPresent() && started.get().equals(recordedStartTime);
  }

  /**
   * This process's uid.
   *
   * @throws UnsupportedOperationException where it cannot be learned without extra modules (today:
   *     everywhere but Linux)
   */
  public static long currentUid() {
    if (Platform.UID < 0) {
      throw new UnsupportedOperationException("cannot learn this process's uid on "
          + System.getProperty("os.name") + " (needs /proc/self); owner checks are unsupported here");
    }
    return Platform.UID;
  }

  /** Facts that are fixed for the life of the JVM, computed on first use. */
  private static final class Platform {
    static final boolean HAS_PROC = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")
        && Files.isDirectory(Path.of(PROC, "self"));
    static final String BOOT_ID = readBootId();
    static final long UID = readUid();
    static final long PID = readPid();

    private static long readPid() {
      if (HAS_PROC) {
        try {
          return Long.parseLong(Files.readSymbolicLink(Path.of(PROC, "self")).toString());
        } catch (IOException | RuntimeException e) {
          // fall through to the portable answer
        }
      }
      return ProcessHandle.current().pid();
    }

    private static String readBootId() {
      try {
        String id = Files.readString(Path.of(PROC, "sys", "kernel", "random", "boot_id"), StandardCharsets.US_ASCII).trim();
        return id.isEmpty() ? "unknown" : id;
      } catch (IOException | RuntimeException e) {
        return "unknown";
      }
    }

    private static long readUid() {
      if (!HAS_PROC) {
        return -1;
      }
      try {
        return ((Integer) Files.getAttribute(Path.of(PROC, "self"), "unix:uid")).longValue();
      } catch (IOException | RuntimeException e) {
        return -1;
      }
    }
  }
}
