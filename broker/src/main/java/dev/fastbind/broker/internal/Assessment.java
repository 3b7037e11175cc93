package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.broker.SpawnReason;
import dev.fastbind.broker.UntrustedStateException;
import java.util.Objects;
import java.util.Optional;

/**
 * What the lockfile and the process table say about a service, before anything is changed; made by
 * {@link Assessor}. Exactly one of four cases, each with what the next step needs and nothing
 * nullable.
 */
public sealed interface Assessment {

  /** No lockfile. */
  record Absent() implements Assessment {}

  /**
   * A record the broker understands well enough to clear: its process is gone, or it is unreadable or
   * foreign while none of the service's endpoints answers.
   *
   * @param reason why a spawn would follow
   * @param detail the human-readable detail
   * @param record present only when the record names this service's own endpoints
   * @param processAlive whether the process it names exists (it may still not be the daemon)
   */
  record Stale(SpawnReason reason, String detail, Optional<LockfileRecord> record, boolean processAlive)
      implements Assessment {
    /** Validates the components. */
    public Stale {
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(detail, "detail");
      Objects.requireNonNull(record, "record");
    }
  }

  /**
   * State the broker must not act on.
   *
   * @param error what was found; thrown by the calls that would act, reported by {@code status}
   */
  record Untrusted(UntrustedStateException error) implements Assessment {
    /** Validates the component. */
    public Untrusted {
      Objects.requireNonNull(error, "error");
    }
  }

  /**
   * A live daemon as far as the hot path checks: its own endpoints, the recorded start time, an
   * accepting endpoint.
   *
   * @param record the lockfile's record
   * @param state the process's state letter from the same procfs reading ({@code '?'} without procfs)
   */
  record Healthy(LockfileRecord record, char state) implements Assessment {
    /** Validates the component. */
    public Healthy {
      Objects.requireNonNull(record, "record");
    }

    /** Whether the process is stopped by a signal or a tracer. */
    public boolean stopped() {
      return state == 'T' || state == 't';
    }
  }
}
