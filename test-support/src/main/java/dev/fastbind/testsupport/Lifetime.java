package dev.fastbind.testsupport;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The bounded life of a process a test spawns (a test daemon, a test launcher): it halts itself
 * with status {@value #HALT_STATUS} once its lifetime is over, so that no test leaves one running
 * past it, however the test ends.
 */
public final class Lifetime {
  /** The exit status of a process whose lifetime ran out. */
  public static final int HALT_STATUS = 99;

  private Lifetime() {}

  /**
   * Halts this JVM after the seconds of a {@code --lifetime=SECONDS} argument among {@code args},
   * or after {@code defaultSeconds} when there is none.
   *
   * @param args the process's arguments
   * @param defaultSeconds the lifetime without the argument
   */
  public static void haltAfter(String[] args, long defaultSeconds) {
    long seconds = defaultSeconds;
    for (String a : args) {
      if (a.startsWith("--lifetime=")) {
        seconds = Long.parseLong(a.substring("--lifetime=".length()));
      }
    }
    haltAfter(Duration.ofSeconds(seconds));
  }

  /**
   * Halts this JVM once {@code lifetime} has passed, from a daemon thread.
   *
   * @param lifetime how long the process may live from now
   */
  public static void haltAfter(Duration lifetime) {
    long deadline = System.nanoTime() + lifetime.toNanos();
    Thread t = new Thread(() -> {
      while (System.nanoTime() < deadline) {
        try {
          // A timer, not synchronisation: the process's end when the test forgot it.
          Thread.sleep(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        } catch (InterruptedException e) {
          return;
        }
      }
      Runtime.getRuntime().halt(HALT_STATUS);
    }, "test-process-lifetime");
    t.setDaemon(true);
    t.start();
  }
}
