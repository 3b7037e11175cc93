package dev.fastbind.broker;

/**
 * The call ended because its thread was interrupted (the interrupt flag is set again) or the client
 * was closed. The connection was closed, so the daemon sees its client go and interrupts the handler,
 * which frees its slot.
 */
public final class CallCancelledException extends DaemonCallException {
  private static final long serialVersionUID = 1L;

  private final boolean byInterrupt;

  CallCancelledException(String message, String service, long pid, boolean mayHaveRun, boolean byInterrupt) {
    super(message, service, pid, mayHaveRun, null);
    this.byInterrupt = byInterrupt;
  }

  /**
   * How the call was cancelled.
   *
   * @return true for an interrupt of the calling thread, false for {@link DaemonClient#close()}
   */
  public boolean byInterrupt() {
    return byInterrupt;
  }
}
