package dev.fastbind.broker;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The daemon answered that it did not run the request. {@link #mayHaveRun()} is false, so the
 * request may be sent again (unless an earlier attempt of a retried call may have run it: then it is
 * true); whether that helps depends on the {@link #reason()}.
 */
public final class CallRefusedException extends DaemonCallException {
  private static final long serialVersionUID = 1L;

  /** Why the daemon did not run the request. */
  public enum Reason {
    /** It is still warming up ({@code WARMING}); the connection stays usable: ask again later. */
    WARMING,
    /** It is shutting down ({@code REFUSED}); the next call asks the broker again. */
    SHUTTING_DOWN,
    /** The request is larger than the daemon reads ({@code TOO_LARGE}); see {@link #limit()}. */
    TOO_LARGE,
    /** The daemon did not understand the frame ({@code MALFORMED}): client and daemon disagree on the protocol. */
    MALFORMED
  }

  private final Reason reason;
  private final String daemonText;
  private final int progress;
  private final int limit;

  CallRefusedException(String message, String service, long pid, Reason reason, String daemonText, int progress,
      int limit) {
    super(message, service, pid, false, null);
    this.reason = Objects.requireNonNull(reason, "reason");
    this.daemonText = daemonText;
    this.progress = progress;
    this.limit = limit;
  }

  /**
   * Why the daemon did not run the request.
   *
   * @return the kind of refusal
   */
  public Reason reason() {
    return reason;
  }

  /**
   * What the daemon said: its reason, or for {@link Reason#WARMING} the warm-up phase.
   *
   * @return possibly empty, never null
   */
  public String daemonText() {
    return daemonText;
  }

  /**
   * How far warm-up had come, for {@link Reason#WARMING}.
   *
   * @return 0 to 100 for a warming refusal, empty otherwise
   */
  public OptionalInt progressPercent() {
    return reason == Reason.WARMING ? OptionalInt.of(progress) : OptionalInt.empty();
  }

  /**
   * The daemon's largest request payload, for {@link Reason#TOO_LARGE}.
   *
   * @return the limit in bytes, empty for other reasons
   */
  public OptionalInt limit() {
    return reason == Reason.TOO_LARGE && limit >= 0 ? OptionalInt.of(limit) : OptionalInt.empty();
  }

  /**
   * The warm-up phase, for {@link Reason#WARMING}.
   *
   * @return the phase the daemon last reported, empty when none or for other reasons
   */
  public Optional<String> phase() {
    return reason == Reason.WARMING && !daemonText.isEmpty() ? Optional.of(daemonText) : Optional.empty();
  }
}
