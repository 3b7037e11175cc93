package dev.fastbind.backend.internal;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Bounds what per-connection events can write to a daemon's log.
 *
 * <p>A daemon's log is its output file in the runtime directory, rotated only at the next spawn, and
 * runtime directories are often small tmpfs mounts: a peer that connects in a loop (another user on
 * an abstract endpoint, a buggy same-user client on the control endpoint) must not be able to fill
 * it. So each kind of event (its <em>key</em>, such as "rejected uid 65534 on this endpoint") is
 * logged in full once per window; the events that follow within the window are only counted, and
 * the first event after the window (or {@link #drain()}, when the listener closes) yields one
 * summary of how many were left out. Whatever the event rate, a key writes at most two lines per
 * window, and at most {@value #MAX_KEYS} keys are tracked (the rest share one), so the log grows by
 * a bounded amount per window however hostile the peers are.
 *
 * <p>No thread and no timer: the summary is written when the next event of its key arrives or at
 * {@link #drain()}; until then the counters the caller keeps (for example
 * {@code IpcListener.rejectedPeers()}) are the live figure. Thread-safe.
 */
final class LogLimiter {

  /** The default window: 10 seconds. */
  static final long DEFAULT_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(10);
  /** How many distinct keys are tracked; further keys share {@link #OTHER_KEY}. */
  static final int MAX_KEYS = 32;
  /** The key shared by events past {@link #MAX_KEYS}. */
  static final String OTHER_KEY = "other";

  /**
   * What to log for one event.
   *
   * @param logThis whether to log this event in full
   * @param suppressed how many events of this key were left out of the log in the window that just
   *     ended; when positive, log a summary first
   * @param windowSeconds the window's length in seconds, for the summary's wording
   */
  record Verdict(boolean logThis, long suppressed, long windowSeconds) {}

  /** A suppressed count reported by {@link #drain()}. */
  record Summary(String key, long suppressed, long windowSeconds) {}

  private static final class Window {
    long start;
    long suppressed;

    Window(long start) {
      this.start = start;
    }
  }

  private final LongSupplier clock;
  private final long windowNanos;
  private final Map<String, Window> windows = new HashMap<>();

  LogLimiter() {
    this(new SystemClock(), DEFAULT_WINDOW_NANOS);
  }

  /** A class, not a method reference: no lambda machinery on a daemon's way to readiness. */
  private static final class SystemClock implements LongSupplier {
    @Override
    public long getAsLong() {
      return System.nanoTime();
    }
  }

  /** For tests: a clock in nanoseconds (monotonic) and a window length. */
  LogLimiter(LongSupplier clock, long windowNanos) {
    this.clock = clock;
    this.windowNanos = windowNanos;
  }

  /** The key an event is counted under: {@code key} itself, or {@link #OTHER_KEY} once too many are tracked. */
  synchronized String keyFor(String key) {
    return windows.containsKey(key) || windows.size() < MAX_KEYS - 1 ? key : OTHER_KEY;
  }

  /** Records one event of {@code key} and says what to log for it. */
  synchronized Verdict event(String key) {
    String k = keyFor(key);
    long now = clock.getAsLong();
    Window w = windows.get(k);
    if (w == null) {
      windows.put(k, new Window(now));
      return new Verdict(true, 0, windowSeconds());
    }
    if (now - w.start < windowNanos) {
      w.suppressed++;
      return new Verdict(false, 0, windowSeconds());
    }
    long left = w.suppressed;
    w.start = now;
    w.suppressed = 0;
    return new Verdict(true, left, windowSeconds());
  }

  /** The counts left out so far, one per key with any, and forgets every window. */
  synchronized java.util.List<Summary> drain() {
    java.util.List<Summary> out = new java.util.ArrayList<>();
    for (Map.Entry<String, Window> e : windows.entrySet()) {
      if (e.getValue().suppressed > 0) {
        out.add(new Summary(e.getKey(), e.getValue().suppressed, windowSeconds()));
      }
    }
    windows.clear();
    return out;
  }

  private long windowSeconds() {
    return Math.max(1, TimeUnit.NANOSECONDS.toSeconds(windowNanos));
  }
}
