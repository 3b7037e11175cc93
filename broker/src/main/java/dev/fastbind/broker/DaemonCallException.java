package dev.fastbind.broker;

import java.io.IOException;
import java.util.OptionalLong;

/**
 * Why a {@link DaemonClient} call did not return an answer, as one sealed family next to the
 * broker's own ({@link BrokerException}, which a call can also throw while it finds or starts the
 * daemon):
 *
 * <ul>
 *   <li>{@link DaemonDiedException}: the connection broke during the call, as when the daemon
 *       crashed or was killed; the request may have run;
 *   <li>{@link CallRefusedException}: the daemon answered that it did not run the request (still
 *       warming up, shutting down, the request too large, a frame it does not understand);
 *   <li>{@link CallFailedException}: the daemon ran the request and its handler failed, or the
 *       daemon answered outside the protocol;
 *   <li>{@link CallTimeoutException}: the call's deadline passed;
 *   <li>{@link CallCancelledException}: the calling thread was interrupted, or the client closed.
 * </ul>
 *
 * {@link #mayHaveRun()} says whether the daemon may have acted on the request, which is what a
 * caller needs to decide whether to send it again. Retrying is the caller's decision: the client
 * itself resends only a request of which no byte was sent (see {@link DaemonClient}).
 */
public abstract sealed class DaemonCallException extends IOException
    permits DaemonDiedException, CallRefusedException, CallFailedException, CallTimeoutException,
        CallCancelledException {
  private static final long serialVersionUID = 1L;

  private final String service;
  private final long pid;
  /** Set once more by a retried call when an earlier attempt may have run (see {@link #earlierAttemptMayHaveRun}). */
  private boolean mayHaveRun;

  DaemonCallException(String message, String service, long pid, boolean mayHaveRun, Throwable cause) {
    super(message, cause);
    this.service = service;
    this.pid = pid;
    this.mayHaveRun = mayHaveRun;
  }

  /**
   * The service that was called.
   *
   * @return the service name of the client's definition
   */
  public String service() {
    return service;
  }

  /**
   * The daemon the call went to.
   *
   * @return its pid as the broker reported it, or empty if the call failed before a daemon was found
   */
  public OptionalLong pid() {
    return pid > 0 ? OptionalLong.of(pid) : OptionalLong.empty();
  }

  /**
   * Whether the daemon may have acted on the request. For a call a {@link RetryPolicy} tried more than
   * once, this covers every attempt: true when any of them may have run.
   *
   * @return false when it certainly did not (no byte of it was sent, or the daemon said so); true when
   *     it did or may have
   */
  public boolean mayHaveRun() {
    return mayHaveRun;
  }

  /** A retried call's last failure, of an attempt that did not run, after one that may have. */
  void earlierAttemptMayHaveRun() {
    this.mayHaveRun = true;
  }
}
