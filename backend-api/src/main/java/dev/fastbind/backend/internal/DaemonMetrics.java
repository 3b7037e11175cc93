package dev.fastbind.backend.internal;

import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.wire.DeathRecordCodec;

/**
 * The daemon's meters ({@code fastbind.daemon.*}, listed on {@code Daemon}), behind an interface of
 * plain methods so that a daemon given no {@code MeterRegistry} never loads a Micrometer class:
 * {@link #NONE} records nothing, and {@link MicrometerDaemonMetrics}, the one class that touches
 * Micrometer types, is created only from the methods that are handed a registry. Every meter is
 * resolved once, before the events that record into it, never per event.
 */
public interface DaemonMetrics {

  /** Records nothing and costs nothing. */
  DaemonMetrics NONE = new DaemonMetrics() {
    @Override
    public void warmedUp(long nanos) {}

    @Override
    public void exiting(DeathRecordCodec.Cause cause) {}

    @Override
    public void watchRejections(String name, IpcListener listener) {}

    @Override
    public LoopMeters loop() {
      return LoopMeters.NONE;
    }
  };

  /** Warm-up ended ({@code ServeContext.ready()}), {@code nanos} after the bootstrap began. Called once. */
  void warmedUp(long nanos);

  /** The daemon is ending, for {@code cause}. Called once, from the shutdown hook. */
  void exiting(DeathRecordCodec.Cause cause);

  /** Counts the peers {@code listener} rejects, read from {@link IpcListener#rejectedPeers()}; tag {@code listener=name}. */
  void watchRejections(String name, IpcListener listener);

  /** The meters of a request loop, resolved now; loops of one holder share them. */
  LoopMeters loop();

  /** What a request loop records: per connection and per request, with every meter already resolved. */
  interface LoopMeters {
    /** The handler answered. */
    int OK = 0;
    /** The handler threw or returned null: the client got an {@code ERROR} frame. */
    int FAILED = 1;
    /** The client went away while its request ran, or before it could start: no answer was written. */
    int CANCELLED = 2;
    /** Answered {@code REFUSED}: the daemon was draining. */
    int REFUSED = 3;
    /** Answered {@code WARMING}: no handler yet, under {@code WarmupPolicy.ANSWER_WARMING}. */
    int WARMING = 4;
    /** The client went away while its request waited for a slot: it never ran. */
    int DROPPED = 5;
    /** The {@code outcome} tags, indexed by the constants above. */
    java.util.List<String> OUTCOMES = java.util.List.of("ok", "failed", "cancelled", "refused", "warming", "dropped");

    /** Records nothing. */
    LoopMeters NONE = new LoopMeters() {
      @Override
      public void opened() {}

      @Override
      public void closed() {}

      @Override
      public void request(int outcome, long nanos) {}
    };

    /** A connection was accepted and is open. */
    void opened();

    /** A connection counted by {@link #opened()} is closed. */
    void closed();

    /** One request, from its read to its answer written, ended with {@code outcome} (a constant above). */
    void request(int outcome, long nanos);
  }
}
