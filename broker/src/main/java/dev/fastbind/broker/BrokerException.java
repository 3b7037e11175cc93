package dev.fastbind.broker;

import java.io.IOException;

/**
 * Everything the broker itself reports, as one sealed family, so that a launcher can tell "the broker
 * found a problem with the daemon or its runtime files" from plain I/O failures ({@link IOException}s
 * outside this family, such as a full disk while writing, are the JDK's own):
 *
 * <ul>
 *   <li>the daemon failed: {@link DaemonStartException} (it exited, said {@code FAILED} or was not
 *       ready in time), {@link CrashLoopException} (it was spawned too often),
 *       {@link DaemonUnresponsiveException} (it is stopped or wedged), {@link RestartLimitException}
 *       (a {@link WorkerPool}'s workers failed beyond its supervision budget);
 *   <li>it is not the daemon this launcher wants: {@link VersionMismatchException};
 *   <li>the broker will not act: {@link UntrustedStateException} (the runtime files and the kernel
 *       disagree), {@link RuntimeFileException} (something else stands at a runtime path, or the
 *       runtime directory is unsafe), {@link SpawnLockTimeoutException} (another launcher holds the
 *       spawn lock).
 * </ul>
 *
 * Every message names the service or path and ends in what to do. Switch over the subclasses; the
 * set is closed, and a new case is a new major version.
 */
public abstract sealed class BrokerException extends IOException
    permits DaemonStartException, CrashLoopException, DaemonUnresponsiveException, VersionMismatchException,
        UntrustedStateException, RuntimeFileException, SpawnLockTimeoutException, RestartLimitException {
  private static final long serialVersionUID = 1L;

  BrokerException(String message) {
    super(message);
  }

  BrokerException(String message, Throwable cause) {
    super(message, cause);
  }
}
