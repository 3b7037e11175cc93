package dev.fastbind.broker;

import java.time.Duration;

/**
 * The call's deadline passed. The client closed the connection, so the daemon sees its client go
 * and interrupts the handler (see the request loop's {@code Handler}); whether the request ran is
 * unknown once any of it was sent ({@link #mayHaveRun()}).
 */
public final class CallTimeoutException extends DaemonCallException {
  private static final long serialVersionUID = 1L;

  private final Duration deadline;

  CallTimeoutException(String message, String service, long pid, boolean mayHaveRun, Duration deadline) {
    super(message, service, pid, mayHaveRun, null);
    this.deadline = deadline;
  }

  /**
   * The deadline the call was given.
   *
   * @return the call's whole allowance
   */
  public Duration deadline() {
    return deadline;
  }
}
