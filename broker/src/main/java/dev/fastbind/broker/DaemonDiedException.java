package dev.fastbind.broker;

/**
 * The connection to the daemon broke during a call: reset, or closed before the whole answer
 * arrived, as when the daemon crashed, was killed ({@code kill -9}) or was cut off at the end of its
 * drain. The call is over; the client has dropped the connection, and its next call asks the broker
 * again, which starts a new daemon if this one is gone.
 *
 * <p>The message says what is known: the daemon's pid and instance, how far the call had come,
 * whether the pid still runs, what the broker sees now ({@link #brokerView()}), and the last lines
 * of the daemon's log ({@link #logTail()}), where the SDK writes why {@code serve} ended.
 */
public final class DaemonDiedException extends DaemonCallException {
  private static final long serialVersionUID = 1L;

  private final String brokerView;
  private final String logTail;
  private final boolean processGone;

  DaemonDiedException(String message, String service, long pid, boolean mayHaveRun, boolean processGone,
      String brokerView, String logTail, Throwable cause) {
    super(message, service, pid, mayHaveRun, cause);
    this.processGone = processGone;
    this.brokerView = brokerView;
    this.logTail = logTail;
  }

  /**
   * Whether the daemon's process had exited when the failure was examined.
   *
   * @return true if its pid no longer ran (or was a zombie); false if it still ran
   */
  public boolean processGone() {
    return processGone;
  }

  /**
   * What {@link Broker#status} said right after the failure, in one line.
   *
   * @return such as {@code "stale (DEAD_PROCESS): pid 4242 is not running"}; never null
   */
  public String brokerView() {
    return brokerView;
  }

  /**
   * The last lines of the daemon's log file, each prefixed {@code "  | "}.
   *
   * @return possibly empty, never null
   */
  public String logTail() {
    return logTail;
  }
}
