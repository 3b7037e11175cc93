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
 * drains: it waits (at most {@value #DRAIN_SECONDS} s) for the connections already accepted.
 */
public final class GoodBackend implements BrokeredBackend {

  static final int DRAIN_SECONDS = 10;

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
      Thread t = new Thread(() -> serveOne(c, inFlight), "good-connection");
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

  /** Runs the daemon. */
  public static final class Main {
    public static void main(String[] args) {
      Daemon.builder("good", new GoodBackend()).version("1.0").run(args);
    }
  }
}
