package dev.fastbind.backend.loop;

import java.time.Duration;
import java.util.Objects;

/**
 * What a {@link RequestLoop} is doing right now: busy (a connection is open or a request is in
 * flight) or idle, and since when. The signal an idle timeout needs; see {@link RequestLoop#activity()}.
 */
public sealed interface Activity permits Activity.Busy, Activity.Idle {

  /**
   * How long the loop has been in this state.
   *
   * @return the time since the loop last turned busy or idle (for a loop never busy, since it started)
   */
  Duration since();

  /**
   * At least one connection is open or one request in flight.
   *
   * @param connections open connections, zero or more
   * @param inFlight requests received and not yet answered (running, waiting for a slot,
   *     or held while warming), zero or more
   * @param since how long the loop has been busy without a break
   */
  record Busy(int connections, int inFlight, Duration since) implements Activity {
    /** Validates the counts: not both zero, neither negative. */
    public Busy {
      Objects.requireNonNull(since, "since");
      if (connections < 0 || inFlight < 0 || connections + inFlight == 0) {
        throw new IllegalArgumentException("a busy loop has a connection or a request in flight, got "
            + connections + " connections and " + inFlight + " requests");
      }
    }
  }

  /**
   * No connection open and no request in flight.
   *
   * @param since how long the loop has been idle
   */
  record Idle(Duration since) implements Activity {
    /** Validates the duration. */
    public Idle {
      Objects.requireNonNull(since, "since");
    }
  }
}
