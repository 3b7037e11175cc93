package dev.fastbind.conformance.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Clients connecting one after another at full speed, on a thread of their own, until stopped: each
 * connects, ends its output at once (sending nothing, so that a daemon that closes without reading
 * resets nothing) and waits for the daemon to close the connection. A connect that fails is a
 * refused client; a reset or a connection still open after the per-client deadline is a lost one.
 *
 * <p>After {@value #MAX_FAILURES} failures the loop stops by itself, so an endpoint that is gone does
 * not turn it into a busy loop.
 */
public final class ClientLoop implements AutoCloseable {

  static final int MAX_FAILURES = 100;

  private final Path path;
  private final long perClientNanos;
  private final AtomicInteger served = new AtomicInteger();
  private final AtomicInteger refused = new AtomicInteger();
  private final AtomicInteger lost = new AtomicInteger();
  private final AtomicReference<String> firstFailure = new AtomicReference<>();
  private final Object progress = new Object();
  private final Thread thread;
  private volatile boolean stop;
  private volatile boolean ended;

  private ClientLoop(Path path, Duration perClient) {
    this.path = path;
    this.perClientNanos = perClient.toNanos();
    this.thread = new Thread(this::run, "fastbind-kit-client-loop");
    this.thread.setDaemon(true);
  }

  /** Starts the loop against the socket file {@code path}; each client waits at most {@code perClient}. */
  public static ClientLoop start(Path path, Duration perClient) {
    ClientLoop loop = new ClientLoop(path, perClient);
    loop.thread.start();
    return loop;
  }

  private void run() {
    try {
      while (!stop && refused.get() + lost.get() < MAX_FAILURES) {
        oneClient();
        synchronized (progress) {
          progress.notifyAll();
        }
      }
    } finally {
      synchronized (progress) {
        ended = true;
        progress.notifyAll();
      }
    }
  }

  private void oneClient() {
    ClientConnection c;
    try {
      c = ClientConnection.open(path);
    } catch (IOException e) {
      refused.incrementAndGet();
      firstFailure.compareAndSet(null, "connect refused: " + e);
      return;
    }
    try (c) {
      c.endOutput();
      ClientConnection.Ending ending = c.awaitEnd(perClientNanos);
      if (ending == ClientConnection.Ending.CLOSED) {
        served.incrementAndGet();
      } else {
        lost.incrementAndGet();
        firstFailure.compareAndSet(null, "a connection was " + c.describe());
      }
    } catch (IOException e) {
      lost.incrementAndGet();
      firstFailure.compareAndSet(null, "a connection failed: " + e);
    }
  }

  /** Clients the daemon served (closed their connection) so far. */
  public int served() {
    return served.get();
  }

  /** Clients refused or lost so far. */
  public int failures() {
    return refused.get() + lost.get();
  }

  /** "3 refused and 1 reset or unanswered, the first: …", for messages. */
  public String describeFailures() {
    return refused.get() + " refused and " + lost.get() + " reset or unanswered of " + (served() + failures())
        + " clients; the first: " + firstFailure.get();
  }

  /**
   * Waits until {@code count} clients were served, or the loop stopped on its failures, or
   * {@code deadlineNanos} ({@link System#nanoTime()}) passed; returns whether they were.
   */
  public boolean awaitServed(int count, long deadlineNanos) throws InterruptedException {
    synchronized (progress) {
      while (served.get() < count) {
        long left = deadlineNanos - System.nanoTime();
        if (ended || left <= 0) {
          return false;
        }
        progress.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
      }
      return true;
    }
  }

  /**
   * Stops the loop and waits for its last client (at most one per-client deadline more). An
   * interrupt ends the wait, and is kept; the loop thread is a daemon thread that stops on its own.
   */
  @Override
  public void close() {
    stop = true;
    try {
      thread.join(TimeUnit.NANOSECONDS.toMillis(perClientNanos) + 1_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
