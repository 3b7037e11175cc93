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
    long lifetimeMillis = lifetimeSeconds * 1000;
    Thread watchdog = new Thread(() -> {
      try {
        Thread.sleep(lifetimeMillis);
      } catch (InterruptedException e) {
        return;
      }
      Runtime.getRuntime().halt(99);
    }, "bench-daemon-lifetime");
    watchdog.setDaemon(true);
    watchdog.start();
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), new BenchDaemon()).version("1.0").run(args);
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
