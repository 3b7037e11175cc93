package dev.fastbind.broker;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * The service was spawned as often as its crash-loop limit allows within the period, so the broker
 * refused to spawn it again. Nothing was started. The count is kept in the runtime directory and
 * shared by every launcher; it clears itself once the period has passed since the oldest spawn.
 * The message ends with the daemon's recent log, which usually says why it keeps dying.
 */
public final class CrashLoopException extends BrokerException {
  private static final long serialVersionUID = 1L;

  private final String service;
  private final int spawns;
  private final Duration period;
  private final Duration retryAfter;
  private final String logTail;

  /** Creates the error; {@code retryAfter} is when the oldest counted spawn leaves the period. */
  public CrashLoopException(String service, int spawns, Duration period, Duration retryAfter,
      Path logFile, String logTail) {
    super("daemon '" + service + "' was spawned " + spawns + " times within " + period.toSeconds()
        + " s and keeps failing; not spawning it again for " + Math.max(1, retryAfter.toSeconds())
        + " s. Fix the cause, then retry.\nlog: " + logFile
        + (logTail.isEmpty() ? " (empty)" : ", last lines:\n" + logTail));
    this.service = Objects.requireNonNull(service, "service");
    this.spawns = spawns;
    this.period = Objects.requireNonNull(period, "period");
    this.retryAfter = Objects.requireNonNull(retryAfter, "retryAfter");
    this.logTail = Objects.requireNonNull(logTail, "logTail");
  }

  /** The service. */
  public String service() {
    return service;
  }

  /** How many spawns were counted within the period. */
  public int spawns() {
    return spawns;
  }

  /** The period of the limit. */
  public Duration period() {
    return period;
  }

  /** How long until a spawn would be allowed again. */
  public Duration retryAfter() {
    return retryAfter;
  }

  /** The last lines of the daemon's log. */
  public String logTail() {
    return logTail;
  }
}
