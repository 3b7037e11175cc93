package dev.fastbind.benchmarks;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The small daemon the hot-path benchmark and the cold-start harness spawn through the real broker:
 * the SDK's {@link Daemon} bootstrap with a backend that is ready at once and closes each connection
 * it accepts. It reads its service name from the environment the broker sets.
 *
 * <p>With {@code --answer} it answers instead: it reads one request line from each connection and
 * writes its pid and a newline back, so that a client can time a whole request; a connection that
 * ends before a full line (the broker's probe) is closed unanswered. The hot-path benchmark and the
 * older cold-start rows run without it, so the daemon's per-connection work there stays as it was.
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
    boolean answer = false;
    for (String a : args) {
      if (a.startsWith("--lifetime=")) {
        lifetimeSeconds = Long.parseLong(a.substring("--lifetime=".length()));
      } else if (a.equals("--answer")) {
        answer = true;
      }
    }
    Thread watchdog = new Lifetime(lifetimeSeconds * 1000);
    watchdog.setDaemon(true);
    watchdog.start();
    BrokeredBackend backend = answer ? new Answering() : new BenchDaemon();
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), backend).version("1.0").run(args);
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

  /**
   * The {@code --answer} backend: one request line in, the daemon's pid and a newline out. It drains
   * at shutdown: after a hand-over (the SDK closes the listener before it runs the shutdown actions)
   * it waits until the serve loop has seen the listener closed, so the request it accepted last is
   * answered; at a plain stop it waits until no request is in flight. Without that, a replacement
   * loses the request the old daemon had accepted but not yet answered.
   */
  private static final class Answering implements BrokeredBackend {
    private static final long DRAIN_NANOS = 5_000_000_000L;
    private final Object lock = new Object();
    private boolean busy;
    private boolean finished;

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws IOException {
      context.onShutdown(new Drain(listener));
      // The pid from procfs, not ProcessHandle (6-8 ms in a fresh JVM), and appended, not `+`
      // (invokedynamic string concatenation costs a fresh JVM 10-14 ms): see docs/performance.md.
      String self = Files.readSymbolicLink(Path.of("/proc/self")).toString();
      ByteBuffer pid = ByteBuffer.wrap(new StringBuilder(self).append('\n').toString()
          .getBytes(StandardCharsets.US_ASCII));
      ByteBuffer request = ByteBuffer.allocate(256);
      context.ready();
      try {
        while (true) {
          SocketChannel accepted = listener.accept(); // throws once stopping or handed over
          setBusy(true);
          try (SocketChannel c = accepted) {
            request.clear();
            if (readLine(c, request)) {
              c.write(pid.duplicate());
            }
          } catch (IOException clientLeftEarly) {
            // the next one
          } finally {
            setBusy(false);
          }
        }
      } finally {
        synchronized (lock) {
          finished = true;
          lock.notifyAll();
        }
      }
    }

    private void setBusy(boolean b) {
      synchronized (lock) {
        busy = b;
        lock.notifyAll();
      }
    }

    /** The shutdown action; a class, not a lambda (see Lifetime). */
    private final class Drain implements Runnable {
      private final IpcListener listener;

      Drain(IpcListener listener) {
        this.listener = listener;
      }

      @Override
      public void run() {
        long deadline = System.nanoTime() + DRAIN_NANOS;
        synchronized (lock) {
          boolean handedOver = !listener.isOpen();
          while (handedOver ? !finished : busy) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
              return;
            }
            try {
              lock.wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
              return;
            }
          }
        }
      }
    }

    /** Reads until a newline; false when the peer ended (or overflowed the buffer) first. */
    private static boolean readLine(SocketChannel c, ByteBuffer b) throws IOException {
      while (b.hasRemaining()) {
        int from = b.position();
        if (c.read(b) < 0) {
          return false;
        }
        for (int i = from; i < b.position(); i++) {
          if (b.get(i) == '\n') {
            return true;
          }
        }
      }
      return false;
    }
  }
}
