package dev.fastbind.broker;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * How a daemon ended, from the record its exit left in the runtime directory: written by the daemon
 * for the ends it sees (a shutdown request, the idle timeout, a signal, {@code serve} returning or
 * throwing, a failed start), or by a broker for the ends only it can see (a {@code kill -9}, a crash,
 * an OOM kill), when it finds the daemon's process gone without one. A service keeps its last few
 * records; {@link Broker#lastDeath} returns the newest, and {@link Broker#status}, the detail of a
 * spawn ({@link DaemonInfo#spawnDetail()}) and {@link DaemonDiedException} name it, so a daemon
 * never dies silently.
 *
 * @param service the service name
 * @param pid the daemon's pid
 * @param instanceId its instance id; empty when it failed before it had one
 * @param cause how it ended
 * @param detail one line: the reason, the exception, the signal or exit status
 * @param exitStatus its exit status, when known (a broker knows it for its own child)
 * @param endedAt when it ended; for {@link Cause#VANISHED}, when a broker noticed
 * @param uptime how long it ran, when known
 * @param outOfMemory whether its log or fatal-error file shows an {@code OutOfMemoryError}
 * @param hsErr the JVM's fatal-error log ({@code hs_err_pid<pid>.log}), if it wrote one
 * @param observedByBroker true when a broker wrote the record, having only observed the end
 * @param logTail the last lines of the daemon's log, as they were when it ended
 */
public record DeathRecord(String service, long pid, String instanceId, Cause cause, String detail,
    OptionalInt exitStatus, Instant endedAt, Optional<Duration> uptime, boolean outOfMemory, Optional<Path> hsErr,
    boolean observedByBroker, String logTail) {

  /** How a daemon ended. */
  public enum Cause {
    /** A control {@code SHUTDOWN}: a broker's {@code stop} or {@code replace}. */
    SHUTDOWN_REQUEST,
    /** Its idle timeout passed with nothing busy. */
    IDLE_TIMEOUT,
    /** The backend asked for it ({@code ServeContext.requestShutdown}); the detail holds the reason. */
    REQUESTED,
    /** The JVM was asked to exit from outside the SDK: {@code SIGTERM} (or {@code SIGINT}, {@code SIGHUP}, {@code System.exit}). */
    SIGTERM,
    /** It handed its listener to a successor and exited. */
    HANDED_OVER,
    /** {@code serve} returned, which it must never do. */
    SERVE_RETURNED,
    /** {@code serve} threw; the detail names the exception. */
    SERVE_THREW,
    /** It failed before serving; {@link #exitStatus()} says with which status. */
    STARTUP_FAILED,
    /** Its process was gone and it left no record: killed ({@code kill -9}, the OOM killer) or crashed. */
    VANISHED,
    /** A private worker ({@link WorkerPool}) whose owner closed the pool or ended. */
    OWNER_GONE
  }

  /**
   * Validates the components.
   *
   * @throws NullPointerException if a component is null
   */
  public DeathRecord {
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(instanceId, "instanceId");
    Objects.requireNonNull(cause, "cause");
    Objects.requireNonNull(detail, "detail");
    Objects.requireNonNull(exitStatus, "exitStatus");
    Objects.requireNonNull(endedAt, "endedAt");
    Objects.requireNonNull(uptime, "uptime");
    Objects.requireNonNull(hsErr, "hsErr");
    Objects.requireNonNull(logTail, "logTail");
  }

  /**
   * One line for messages.
   *
   * @return such as {@code "the previous daemon (pid 4242) ended: killed by SIGKILL after 3 min"}, with the
   *     OOM evidence and fatal-error log when there are any; without the log tail
   */
  public String summary() {
    StringBuilder b = new StringBuilder("the previous daemon (pid ").append(pid).append(") ended: ").append(how());
    uptime.ifPresent(u -> b.append(" after ").append(human(u)));
    b.append(" at ").append(endedAt.truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
    if (outOfMemory) {
      b.append("; it ran out of memory (OutOfMemoryError)");
    }
    hsErr.ifPresent(p -> b.append("; the JVM's fatal-error log is ").append(p));
    return b.toString();
  }

  /** {@link #summary()} and, when there is one, the log tail on the following lines. */
  public String summaryWithLog() {
    return logTail.isEmpty() ? summary() : summary() + "; log tail:\n" + logTail.indent(2).stripTrailing();
  }

  private String how() {
    switch (cause) {
      case SHUTDOWN_REQUEST:
        return "stopped by a SHUTDOWN request";
      case IDLE_TIMEOUT:
        return "idle timeout (" + detail + ")";
      case REQUESTED:
        return "the backend requested shutdown (" + detail + ")";
      case SIGTERM:
        return "SIGTERM (" + detail + ")";
      case HANDED_OVER:
        return "handed over to a successor";
      case SERVE_RETURNED:
        return "serve returned (" + detail + ")";
      case SERVE_THREW:
        return detail;
      case STARTUP_FAILED:
        return "failed to start" + (exitStatus.isPresent() ? " with exit status " + exitStatus.getAsInt() : "")
            + " (" + detail + ")";
      case OWNER_GONE:
        return "its owner went (" + detail + ")";
      case VANISHED:
      default:
        return detail;
    }
  }

  private static String human(Duration d) {
    long s = d.toSeconds();
    if (s < 1) {
      return d.toMillis() + " ms";
    }
    if (s < 120) {
      return s + " s";
    }
    if (s < 7200) {
      return (s / 60) + " min";
    }
    if (s < 172_800) {
      return (s / 3600) + " h";
    }
    return (s / 86_400) + " days";
  }
}
