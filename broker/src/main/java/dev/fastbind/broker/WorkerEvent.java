package dev.fastbind.broker;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * What a {@link WorkerPool}'s monitor hears: each worker's start and death, and the pool giving up.
 * Delivered in order, one at a time, on the pool's supervisor thread; a monitor that throws is
 * logged to standard error and kept.
 */
public sealed interface WorkerEvent {

  /** The pool's name (its service's). */
  String pool();

  /** How a worker ended, after lunatic's death reasons. */
  enum Reason {
    /** It exited with status 0: its idle timeout, or the backend asked to stop. */
    NORMAL,
    /** It exited with another status, or a signal killed it that the pool did not send. */
    FAILURE,
    /** The pool stopped it on purpose: the pool closed, a one-for-all restart, or the pool gave up. */
    KILLED,
    /** There was no process: its command could not be started at all. */
    NO_SUCH_PROCESS
  }

  /**
   * A worker serves.
   *
   * @param pool the pool
   * @param worker the worker's index, from 0
   * @param pid its process id
   * @param generation how many times this worker index was started before, 0 for the first start
   * @param startTime from spawn to serving
   */
  record Started(String pool, int worker, long pid, int generation, Duration startTime) implements WorkerEvent {
    /** Validates. */
    public Started {
      Objects.requireNonNull(pool, "pool");
      Objects.requireNonNull(startTime, "startTime");
    }
  }

  /**
   * A worker ended, or its start failed.
   *
   * @param pool the pool
   * @param worker the worker's index
   * @param pid its process id; -1 for {@link Reason#NO_SUCH_PROCESS}
   * @param reason how it ended
   * @param exitStatus its exit status, when it exited
   * @param signal the signal that killed it, when one did
   * @param detail one line: its death record's summary, or why its start failed
   * @param death its death record, when one was written or observed
   */
  record Died(String pool, int worker, long pid, Reason reason, OptionalInt exitStatus, OptionalInt signal,
      String detail, Optional<DeathRecord> death) implements WorkerEvent {
    /** Validates. */
    public Died {
      Objects.requireNonNull(pool, "pool");
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(exitStatus, "exitStatus");
      Objects.requireNonNull(signal, "signal");
      Objects.requireNonNull(detail, "detail");
      Objects.requireNonNull(death, "death");
    }

    /**
     * One line for messages.
     *
     * @return such as {@code "worker 1 (pid 4242): FAILURE, signal 9: killed by SIGKILL"}
     */
    public String summary() {
      return "worker " + worker + (pid > 0 ? " (pid " + pid + ")" : "") + ": " + reason
          + (signal.isPresent() ? ", signal " + signal.getAsInt()
              : exitStatus.isPresent() ? ", exit status " + exitStatus.getAsInt() : "")
          + (detail.isEmpty() ? "" : ": " + detail);
    }
  }

  /**
   * The pool gave up: a failure beyond its restart budget. Its workers are stopped and its calls fail.
   *
   * @param pool the pool
   * @param message what happened and what to do, as {@link RestartLimitException} says it
   * @param lastDeaths the deaths inside the window, oldest first
   */
  record GaveUp(String pool, String message, List<Died> lastDeaths) implements WorkerEvent {
    /** Validates and copies. */
    public GaveUp {
      Objects.requireNonNull(pool, "pool");
      Objects.requireNonNull(message, "message");
      lastDeaths = List.copyOf(lastDeaths);
    }
  }
}
