package dev.fastbind.broker;

import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.internal.wire.Readiness;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A daemon for the broker's tests, well-behaved or deliberately broken, chosen by its first argument:
 *
 * <ul>
 *   <li>{@code good [version]}: a real daemon through the SDK's {@link Daemon} bootstrap (bind,
 *       lockfile, control endpoint, READY); answers each connection with its pid
 *   <li>{@code hang}: never binds and never announces anything
 *   <li>{@code exit3}: prints a diagnostic to stderr and exits with status 3
 *   <li>{@code halt}: {@code Runtime.halt(7)} before binding
 *   <li>{@code abort}: kills itself with SIGABRT
 *   <li>{@code fail}: announces {@code FAILED} with a reason, then exits 1
 * </ul>
 *
 * Every instance halts on its own after {@code --lifetime=<seconds>} (default 60), so no test can
 * leave a daemon behind for long, and carries a {@code --marker=<dir>} argument by which tests find
 * their processes in the process table.
 */
public final class TestDaemon {
  private TestDaemon() {}

  public static void main(String[] args) throws Exception {
    long lifetime = 60;
    for (String a : args) {
      if (a.startsWith("--lifetime=")) {
        lifetime = Long.parseLong(a.substring("--lifetime=".length()));
      }
    }
    startWatchdog(lifetime);
    String mode = args.length > 0 ? args[0] : "good";
    long pid = ProcessHandle.current().pid();
    switch (mode) {
      case "hang" -> {
        System.err.println("test daemon " + pid + ": hanging before bind");
        Thread.sleep(Long.MAX_VALUE);
      }
      case "exit3" -> {
        System.err.println("test daemon " + pid + ": configuration file missing, giving up");
        System.exit(3);
      }
      case "halt" -> {
        System.err.println("test daemon " + pid + ": halting");
        Runtime.getRuntime().halt(7);
      }
      case "abort" -> {
        System.err.println("test daemon " + pid + ": aborting");
        Process kill = new ProcessBuilder("kill", "-ABRT", Long.toString(pid)).start();
        kill.waitFor();
        Thread.sleep(Long.MAX_VALUE);
      }
      case "fail" -> {
        Readiness.send(Path.of(System.getenv(Env.NOTIFY_SOCKET)),
            Readiness.Message.failed(pid, "endpoint busy: 100% taken"));
        System.exit(1);
      }
      case "good" -> serve(args.length > 1 && !args[1].startsWith("--") ? args[1] : "1.0");
      default -> {
        System.err.println("unknown mode " + mode);
        System.exit(64);
      }
    }
  }

  private static void startWatchdog(long seconds) {
    Thread t = new Thread(() -> {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      while (System.nanoTime() < deadline) {
        try {
          Thread.sleep(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        } catch (InterruptedException e) {
          return;
        }
      }
      Runtime.getRuntime().halt(99);
    }, "test-daemon-lifetime");
    t.setDaemon(true);
    t.start();
  }

  private static void serve(String version) {
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), new PidBackend()).version(version).run();
  }

  /** Answers each connection with the daemon's pid and a newline; a peer that left early is skipped. */
  static final class PidBackend implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws IOException {
      context.ready();
      byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
      while (true) {
        try (SocketChannel c = listener.accept()) {
          c.write(ByteBuffer.wrap(pid));
        } catch (IOException probeWentAway) {
          System.err.println("test daemon: connection ended early: " + probeWentAway.getMessage());
        }
      }
    }
  }
}
