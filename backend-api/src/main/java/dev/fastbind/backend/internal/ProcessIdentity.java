package dev.fastbind.backend.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
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
 * <p>Everything here is cheap enough for the broker's hot path, which calls {@link #startTime(long)}
 * on every launcher invocation: one small procfs read, no process spawned. Only values that cannot
 * change while this JVM runs (boot id, uid, whether procfs exists) are cached; start times never are.
 */
public final class ProcessIdentity {

  private static final String PROC = "/proc";

  private ProcessIdentity() {}

  /** This JVM's pid. */
  public static long currentPid() {
    return ProcessHandle.current().pid();
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
      return procStartTime(pid);
    }
    return ProcessHandle.of(pid)
        .filter(ProcessHandle::isAlive)
        .flatMap(h -> h.info().startInstant())
        .map(i -> "instant:" + i.toEpochMilli());
  }

  private static Optional<String> procStartTime(long pid) {
    byte[] stat;
    try {
      stat = Files.readAllBytes(Path.of(PROC, Long.toString(pid), "stat"));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      // The process vanished while being read (ESRCH) or procfs refused: either way, not provable.
      return Optional.empty();
    }
    // Format: pid (comm) state ppid ... ; comm may contain spaces and ')', so parse after the last ')'.
    String s = new String(stat, StandardCharsets.ISO_8859_1);
    int close = s.lastIndexOf(')');
    if (close < 0) {
      return Optional.empty();
    }
    String[] f = s.substring(close + 1).trim().split(" ");
    // f[0] is field 3 (state), so field 22 (starttime) is f[19].
    if (f.length < 20 || f[0].equals("Z") || f[0].equals("X") || f[19].isEmpty()
        || !f[19].chars().allMatch(c -> c >= '0' && c <= '9')) {
      return Optional.empty();
    }
    return Optional.of("ticks:" + f[19]);
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
    return startTime(pid).map(recordedStartTime::equals).orElse(false);
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
