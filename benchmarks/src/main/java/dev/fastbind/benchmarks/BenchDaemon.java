package dev.fastbind.benchmarks;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.io.IOException;
import java.nio.channels.SocketChannel;

/**
 * The small daemon the hot-path benchmark and the cold-start harness spawn through the real broker:
 * the SDK's {@link Daemon} bootstrap with a backend that is ready at once and closes each connection
 * it accepts. It reads its service name from the environment the broker sets.
 *
 * <p>Bounded lifetime: the first argument, {@code --lifetime=<seconds>} (default 600), arms a daemon
 * thread that halts the JVM when it runs out, so a benchmark that dies before its tear-down leaves no
 * daemon behind for long.
 */
public final class BenchDaemon implements BrokeredBackend {

  private BenchDaemon() {}

  /** Runs the daemon; never returns. */
  public static void main(String[] args) {
    long lifetimeSeconds = 600;
    for (String a : args) {
      if (a.startsWith("--lifetime=")) {
        lifetimeSeconds = Long.parseLong(a.substring("--lifetime=".length()));
      }
    }
    Thread watchdog = new Lifetime(lifetimeSeconds * 1000);
    watchdog.setDaemon(true);
    watchdog.start();
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), new BenchDaemon()).version("1.0").run(args);
  }

  /** Halts the JVM when the lifetime runs out. A class, not a lambda: the first lambda in a JVM costs its start-up. */
  private static final class Lifetime extends Thread {
    private final long millis;

    Lifetime(long millis) {
      super("bench-daemon-lifetime");
      this.millis = millis;
    }

    @Override
    public void run() {
      try {
        Thread.sleep(millis);
      } catch (InterruptedException e) {
        return;
      }
      Runtime.getRuntime().halt(99);
    }
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws IOException {
    context.ready();
    while (true) {
      SocketChannel client = listener.accept();
      client.close();
    }
  }
}
