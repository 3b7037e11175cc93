package dev.fastbind.conformance.backends;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

/**
 * A backend that keeps the contract: default bind, state created in serve, serve loops forever, each
 * connection served on a thread of its own until its client ends it, and a shutdown action that
 * drains: it waits (at most {@value #DRAIN_SECONDS} s) for the connections already accepted. Each open
 * connection holds a {@link ServeContext#busy()} handle, and {@link Main} takes an idle timeout in
 * milliseconds from the system property {@value #IDLE_PROPERTY} (none without it).
 */
public final class GoodBackend implements BrokeredBackend {

  static final int DRAIN_SECONDS = 10;

  /** The system property the daemons of these tests read their idle timeout from, in milliseconds. */
  public static final String IDLE_PROPERTY = "good.idle-ms";

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    StringBuilder state = new StringBuilder("warm");
    InFlight inFlight = new InFlight();
    context.onShutdown(() -> inFlight.awaitNone(TimeUnit.SECONDS.toNanos(DRAIN_SECONDS)));
    context.progress(50, "loading");
    context.ready();
    while (true) {
      SocketChannel c = listener.accept(); // throws once the listener is closed: stopping, or handed over
      state.setLength(4);
      inFlight.begin();
      ServeContext.Busy busy = context.busy();
      Thread t = new Thread(() -> {
        try (busy) {
          serveOne(c, inFlight);
        }
      }, "good-connection");
      t.setDaemon(true);
      t.start();
    }
  }

  /** Reads the client's request until it ends its output, then closes the connection. */
  static void serveOne(SocketChannel c, InFlight inFlight) {
    try (c) {
      ByteBuffer b = ByteBuffer.allocate(256);
      while (c.read(b) >= 0) {
        b.clear();
      }
    } catch (IOException clientWentAway) {
      // a reset client: nothing to answer
    } finally {
      inFlight.end();
    }
  }

  /** The connections being served; {@link #awaitNone} is the drain. */
  static final class InFlight {
    private int count;

    synchronized void begin() {
      count++;
    }

    synchronized void end() {
      count--;
      notifyAll();
    }

    synchronized void awaitNone(long timeoutNanos) {
      long end = System.nanoTime() + timeoutNanos;
      while (count > 0) {
        long left = end - System.nanoTime();
        if (left <= 0) {
          return;
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(this, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /** {@code builder} with the idle timeout {@link #IDLE_PROPERTY} names, if set. */
  public static Daemon.Builder idleFromProperty(Daemon.Builder builder) {
    String ms = System.getProperty(IDLE_PROPERTY);
    return ms == null ? builder : builder.idleTimeout(java.time.Duration.ofMillis(Long.parseLong(ms)));
  }

  /** Runs the daemon. */
  public static final class Main {
    public static void main(String[] args) {
      idleFromProperty(Daemon.builder("good", new GoodBackend()).version("1.0")).run(args);
    }
  }
}
