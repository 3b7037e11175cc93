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

  /** See {@link #service()}. */
  private final String service;
  /** See {@link #spawns()}. */
  private final int spawns;
  /** See {@link #period()}. */
  private final Duration period;
  /** See {@link #retryAfter()}. */
  private final Duration retryAfter;
  /** See {@link #logTail()}. */
  private final String logTail;

  /**
   * Creates the error; {@code retryAfter} is when the oldest counted spawn leaves the period.
   *
   * @param service the service that was refused
   * @param spawns how many spawns were counted within the period (the definition's limit)
   * @param period the period of the limit
   * @param retryAfter how long until the oldest counted spawn leaves the period; the message rounds it
   *     to whole seconds, at least 1
   * @param logFile the daemon's log file, named in the message (not kept: {@code Path} is not
   *     serializable)
   * @param logTail the last lines of that log, possibly empty
   */
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

  /**
   * The service.
   *
   * @return the name of the service that was not spawned
   */
  public String service() {
    return service;
  }

  /**
   * How many spawns were counted within the period.
   *
   * @return the count, by every launcher sharing the runtime directory; the definition's
   *     {@link ServiceDefinition#crashLoopSpawns() limit}
   */
  public int spawns() {
    return spawns;
  }

  /**
   * The period of the limit.
   *
   * @return the definition's {@link ServiceDefinition#crashLoopPeriod() crash-loop period}
   */
  public Duration period() {
    return period;
  }

  /**
   * How long until a spawn would be allowed again.
   *
   * @return the time, measured when the spawn was refused, until the oldest counted spawn leaves the
   *     period; a retry sooner is refused again
   */
  public Duration retryAfter() {
    return retryAfter;
  }

  /**
   * The last lines of the daemon's log.
   *
   * @return at most the last 20 lines (8 KiB) of the log, lines separated by {@code \n}; empty when the
   *     log is empty or missing, one line saying so when it cannot be read
   */
  public String logTail() {
    return logTail;
  }
}
