package dev.fastbind.broker;

/** How {@link Broker#stop} ended. Every value means no daemon of the service runs any more. */
public enum StopResult {
  /** There was no daemon and no stale state: nothing to do. */
  NOT_RUNNING,
  /** There was no live daemon, but a stale lockfile or socket files, which were removed. */
  CLEANED_STALE,
  /** The daemon acknowledged {@code SHUTDOWN} and exited within the grace period. */
  SHUT_DOWN,
  /** The daemon exited after {@code SIGTERM}. */
  TERMINATED,
  /** The daemon's process group had to be killed with {@code SIGKILL} after the grace period. */
  KILLED
}
