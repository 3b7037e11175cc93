package dev.fastbind.broker;

/**
 * What {@link Broker#ensureRunning} does with a daemon whose process exists but does not answer
 * (stopped with {@code SIGSTOP}, wedged): its control endpoint gives no {@code HELLO} within the
 * probe budget.
 */
public enum UnresponsivePolicy {
  /** Leave it alone and throw {@link DaemonUnresponsiveException}; a person decides. The default. */
  REPORT,
  /** Kill its process group and spawn a new daemon; the spawn reason is {@link SpawnReason#UNRESPONSIVE}. */
  REPLACE
}
