package dev.fastbind.broker;

import java.io.IOException;
import java.time.Duration;
import java.util.Objects;

/**
 * The recorded daemon's process exists but did not answer {@code HELLO} on its control endpoint within
 * the probe budget: it is stopped ({@code SIGSTOP}, a debugger) or wedged. The broker left it alone,
 * as the definition's {@link UnresponsivePolicy#REPORT} asks; resume it, or stop it with
 * {@link Broker#stop}, or define the service with {@link UnresponsivePolicy#REPLACE}.
 */
public final class DaemonUnresponsiveException extends BrokerException {
  private static final long serialVersionUID = 1L;

  /** See {@link #service()}. */
  private final String service;
  /** See {@link #pid()}. */
  private final long pid;
  /** See {@link #waited()}. */
  private final Duration waited;

  /**
   * Creates the error; {@code why} says what was observed (process state, which probe timed out).
   *
   * @param service the service whose daemon did not answer
   * @param pid the daemon's process id, from its lockfile
   * @param waited how long the broker waited for {@code HELLO}
   * @param why what was observed, such as {@code "process state T: stopped by a signal or a debugger"};
   *     empty for nothing
   */
  public DaemonUnresponsiveException(String service, long pid, Duration waited, String why) {
    super("daemon '" + service + "' (pid " + pid + ") is running but did not answer within "
        + waited.toMillis() + " ms" + (why.isEmpty() ? "" : " (" + why + ")")
        + "; it was left alone: resume it (kill -CONT " + pid + "), stop it, or replace it");
    this.service = Objects.requireNonNull(service, "service");
    this.pid = pid;
    this.waited = Objects.requireNonNull(waited, "waited");
  }

  /**
   * The service.
   *
   * @return the name of the service whose daemon did not answer
   */
  public String service() {
    return service;
  }

  /**
   * The daemon's pid.
   *
   * @return the recorded daemon's process id, positive; the process was left running
   */
  public long pid() {
    return pid;
  }

  /**
   * How long the broker waited for an answer.
   *
   * @return the definition's {@link ServiceDefinition#probeBudget() probe budget}
   */
  public Duration waited() {
    return waited;
  }
}
