package dev.fastbind.broker;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

/**
 * Ends {@link DaemonClient} calls whose deadline has passed, so that a call can wait in a plain
 * blocking read, which the kernel wakes directly when the answer arrives, instead of in a selector
 * of its own (a wasted read, then a select, on every call).
 *
 * <p>One daemon thread for every client in the JVM, started with the first call. It sleeps until the
 * earliest deadline of the calls under way and then {@linkplain Expiring#expire expires} what is
 * due: the call's connection is closed, which wakes its thread with an
 * {@link java.nio.channels.AsynchronousCloseException}. A call that starts never wakes the thread
 * unless its deadline is earlier than the one it sleeps towards: with equal deadlines, as calls of
 * one client have, back-to-back calls cost it nothing. Idle, it waits to be woken.
 */
final class CallDeadlines {

  /** What the thread watches: an open connection, with the deadline of its call, if one is under way. */
  interface Expiring {
    /** The deadline of the call under way ({@link System#nanoTime()} based), or {@link #NONE}. */
    long deadline();

    /** Ends the call under way if its deadline is still {@code deadline}: closes its connection. */
    void expire(long deadline);
  }

  /** No call under way. */
  static final long NONE = Long.MIN_VALUE;
  /** {@link #wakeAt} while the thread waits to be woken, or is looking. */
  private static final long UNPLANNED = Long.MAX_VALUE;

  private static final class Holder {
    static final CallDeadlines INSTANCE = new CallDeadlines();
  }

  private final Set<Expiring> watched = ConcurrentHashMap.newKeySet();
  private final Thread thread;
  private volatile long wakeAt = UNPLANNED;

  private CallDeadlines() {
    thread = new Thread(new Runnable() {
      @Override
      public void run() {
        watch();
      }
    }, "fastbind-client-deadlines");
    thread.setDaemon(true);
    thread.start();
  }

  static CallDeadlines get() {
    return Holder.INSTANCE;
  }

  /** Watches {@code e} from now on (for as long as its connection is open). */
  void add(Expiring e) {
    watched.add(e);
  }

  void remove(Expiring e) {
    watched.remove(e);
  }

  /** A call with {@code deadline} has started on a watched connection: wakes the thread if it would look too late. */
  void started(long deadline) {
    long w = wakeAt;
    if (w == UNPLANNED || deadline - w < 0) {
      LockSupport.unpark(thread);
    }
  }

  private void watch() {
    while (true) {
      wakeAt = UNPLANNED; // a call starting while we look wakes us: one more round at worst
      long now = System.nanoTime();
      long next = UNPLANNED;
      for (Expiring e : watched) {
        long d = e.deadline();
        if (d == NONE) {
          continue;
        }
        if (d - now <= 0) {
          e.expire(d);
        } else if (next == UNPLANNED || d - next < 0) {
          next = d;
        }
      }
      wakeAt = next;
      if (next == UNPLANNED) {
        LockSupport.park(this);
      } else {
        LockSupport.parkNanos(this, next - now);
      }
    }
  }
}
