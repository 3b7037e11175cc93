package dev.fastbind.broker.internal;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The watches of one broker over the kept-alive daemons it found or started
 * ({@code ServiceDefinition.Builder.keepAlive}): one per endpoint, on the daemon's verified process
 * ({@link ProcessHandle#onExit()}, which the JDK completes for a process that is not this JVM's child
 * too, by polling). The decision taken at a death, and the restart, are the broker's
 * ({@link Death}); this class only makes sure each daemon is watched once and the deaths are handled
 * one at a time off the caller's thread.
 */
public final class KeepAlive {

  /** What the broker does when a watched daemon's process ends. */
  @FunctionalInterface
  public interface Death {
    /** Handles the end of {@code pid}, watched for {@code key}; called once per watch. */
    void ended(String key, long pid);
  }

  private final ConcurrentHashMap<String, Long> watched = new ConcurrentHashMap<>();
  /**
   * Made at the first watch: every broker has a {@code KeepAlive}, and a launcher that keeps nothing
   * alive must not load an executor's classes and spin a lambda class on its way to the daemon.
   */
  private volatile ExecutorService handler;

  private ExecutorService handler() {
    ExecutorService h = handler;
    if (h == null) {
      synchronized (this) {
        h = handler;
        if (h == null) {
          h = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fastbind-keep-alive");
            t.setDaemon(true);
            return t;
          });
          handler = h;
        }
      }
    }
    return h;
  }

  /**
   * Watches {@code pid} for {@code key} (an endpoint), unless it is watched already: a map lookup on
   * the hot path of every {@code ensureRunning} of a kept-alive definition.
   */
  public void watch(String key, long pid, Death death) {
    Long now = watched.get(key);
    if (now != null && now == pid) {
      return;
    }
    Long before = watched.put(key, pid);
    if (before != null && before == pid) {
      return; // a concurrent caller watches it
    }
    ProcessHandle.of(pid).ifPresentOrElse(
        h -> h.onExit().thenRun(() -> handler().execute(() -> {
          if (watched.remove(key, pid)) {
            death.ended(key, pid);
          }
        })),
        () -> handler().execute(() -> {
          if (watched.remove(key, pid)) {
            death.ended(key, pid);
          }
        }));
  }
}
