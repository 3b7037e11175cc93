package dev.fastbind.broker;

/**
 * The daemon answered with a failure: its handler threw ({@link #daemonText()} is what it threw, so
 * the request ran, perhaps in part), or the daemon answered outside the request loop protocol (then
 * {@link #protocolViolation()} is true and the client has dropped the connection).
 */
public final class CallFailedException extends DaemonCallException {
  private static final long serialVersionUID = 1L;

  private final String daemonText;
  private final boolean protocolViolation;

  CallFailedException(String message, String service, long pid, String daemonText, boolean protocolViolation) {
    super(message, service, pid, true, null);
    this.daemonText = daemonText;
    this.protocolViolation = protocolViolation;
  }

  /**
   * What the daemon reported: the handler's exception as {@code toString()} gives it.
   *
   * @return the daemon's text; empty for a protocol violation
   */
  public String daemonText() {
    return daemonText;
  }

  /**
   * Whether the daemon answered outside the protocol (an unknown reply kind, an answer larger than
   * the client reads) instead of with an error frame.
   *
   * @return true for a protocol violation
   */
  public boolean protocolViolation() {
    return protocolViolation;
  }
}
