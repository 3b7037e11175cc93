package dev.fastbind.broker;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * A spawned daemon did not become ready: it exited first, reported that its bind failed, or stayed
 * silent past the probe budget.
 *
 * <p>By the time this is thrown the broker has killed the daemon's whole process group and removed
 * any lockfile it wrote, so retrying starts from a clean slate. The message names the service, the
 * elapsed time, the exit status or signal and ends with the last lines of the daemon's log: usually
 * everything needed to see what went wrong.
 */
public final class DaemonStartException extends BrokerException {
  private static final long serialVersionUID = 1L;

  /** How the start failed. */
  public enum Failure {
    /** Neither readiness nor an exit within the probe budget: a hang before bind, or a slow JVM. */
    TIMED_OUT,
    /** The daemon process exited (or was killed by a signal) before announcing readiness. */
    EXITED,
    /** The daemon announced {@code FAILED} on the notify socket, usually a bind error. */
    REPORTED_FAILURE,
    /** The daemon announced readiness but its endpoint did not accept a connection. */
    NOT_CONNECTABLE
  }

  /** See {@link #service()}. */
  private final String service;
  /** See {@link #failure()}. */
  private final Failure failure;
  /** See {@link #elapsed()}. */
  private final Duration elapsed;
  /** The exit status, or -1; see {@link #exitStatus()}. */
  private final int exitStatus;
  /** The signal number, or -1; see {@link #signal()}. */
  private final int signal;
  /** See {@link #logTail()}. */
  private final String logTail;
  private final transient Path logFile;

  /**
   * Creates the error. {@code exitStatus} and {@code signal} are -1 when not applicable; the message is
   * assembled from the parts.
   *
   * @param service the service whose daemon failed to start
   * @param failure how it failed
   * @param elapsed time from the spawn to giving up
   * @param exitStatus the daemon's exit status when it exited on its own (0 to 255), else -1
   * @param signal the number of the signal that killed it (Linux numbering, such as 9), else -1
   * @param detail what else was learned, such as the daemon's {@code FAILED} text; null or empty for
   *     nothing
   * @param logFile the daemon's log file, named in the message
   * @param logTail the last lines of the log written during this start, possibly empty
   */
  public DaemonStartException(String service, Failure failure, Duration elapsed, int exitStatus,
      int signal, String detail, Path logFile, String logTail) {
    super(message(service, failure, elapsed, exitStatus, signal, detail, logFile, logTail));
    this.service = Objects.requireNonNull(service, "service");
    this.failure = Objects.requireNonNull(failure, "failure");
    this.elapsed = Objects.requireNonNull(elapsed, "elapsed");
    this.exitStatus = exitStatus;
    this.signal = signal;
    this.logFile = Objects.requireNonNull(logFile, "logFile");
    this.logTail = Objects.requireNonNull(logTail, "logTail");
  }

  private static String message(String service, Failure failure, Duration elapsed, int exitStatus,
      int signal, String detail, Path logFile, String logTail) {
    StringBuilder m = new StringBuilder("daemon '").append(service).append("' ");
    switch (failure) {
      case TIMED_OUT -> m.append("was not ready within ");
      case EXITED -> m.append("exited before it was ready, after ");
      case REPORTED_FAILURE -> m.append("reported that it failed to start, after ");
      case NOT_CONNECTABLE -> m.append("announced readiness but its endpoint refused a connection, after ");
    }
    m.append(elapsed.toMillis()).append(" ms");
    if (signal > 0) {
      m.append("; killed by signal ").append(signal).append(" (").append(Signals.name(signal)).append(')');
    } else if (exitStatus >= 0) {
      m.append("; exit status ").append(exitStatus);
    }
    if (detail != null && !detail.isEmpty()) {
      m.append("; ").append(detail);
    }
    if (failure == Failure.TIMED_OUT) {
      m.append("; its process group was killed");
    }
    m.append("\nlog: ").append(logFile);
    if (logTail.isEmpty()) {
      m.append(" (empty)");
    } else {
      m.append(", last lines:\n").append(logTail);
    }
    return m.toString();
  }

  /**
   * The service whose daemon failed to start.
   *
   * @return the service name
   */
  public String service() {
    return service;
  }

  /**
   * How the start failed.
   *
   * @return the kind of failure; switch on it rather than on the message
   */
  public Failure failure() {
    return failure;
  }

  /**
   * Time from spawn to giving up.
   *
   * @return the time since the failing spawn attempt started; for {@link Failure#TIMED_OUT} about the
   *     probe budget
   */
  public Duration elapsed() {
    return elapsed;
  }

  /**
   * The daemon's exit status when it exited on its own.
   *
   * @return the status, 0 to 255 (such as {@link dev.fastbind.backend.Daemon#EXIT_BIND_FAILED}); empty
   *     when a signal ended it or it had not exited
   */
  public OptionalInt exitStatus() {
    return exitStatus >= 0 ? OptionalInt.of(exitStatus) : OptionalInt.empty();
  }

  /**
   * The signal that ended the daemon, when one did.
   *
   * @return the signal number, positive (Linux numbering: 9 is {@code SIGKILL}); empty when the daemon
   *     exited on its own or had not exited
   */
  public OptionalInt signal() {
    return signal > 0 ? OptionalInt.of(signal) : OptionalInt.empty();
  }

  /**
   * The last lines of the daemon's log, possibly empty.
   *
   * @return at most the last 20 lines (8 KiB) written to the log during this start; empty when the
   *     daemon wrote nothing
   */
  public String logTail() {
    return logTail;
  }

  /**
   * The daemon's log file.
   *
   * @return the path of {@code SERVICE.log} in the runtime directory; null after deserialization, as
   *     {@code Path} is not serializable
   */
  public Path logFile() {
    return logFile;
  }
}
