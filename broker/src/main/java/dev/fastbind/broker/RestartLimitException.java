package dev.fastbind.broker;

import java.util.List;

/**
 * A {@link WorkerPool} gave up: its workers failed more often than its {@link Supervision} allows.
 * Every later call fails with this, naming the last deaths; the pool restarts nothing more. Fix the
 * cause the deaths name (the workers' logs are named in them), then create a new pool.
 */
public final class RestartLimitException extends BrokerException {
  private static final long serialVersionUID = 1L;

  private final String pool;
  private final transient List<WorkerEvent.Died> lastDeaths;

  /**
   * A pool's give-up; public so that a scripted seam or another implementation can throw one.
   *
   * @param message what happened and what to do
   * @param pool the pool's name
   * @param lastDeaths the deaths that used up the budget
   */
  public RestartLimitException(String message, String pool, List<WorkerEvent.Died> lastDeaths) {
    super(message);
    this.pool = pool;
    this.lastDeaths = List.copyOf(lastDeaths);
  }

  /**
   * The pool's name.
   *
   * @return the service name of its workers
   */
  public String pool() {
    return pool;
  }

  /**
   * The deaths that used up the budget, oldest first.
   *
   * @return the deaths inside the last restart window
   */
  public List<WorkerEvent.Died> lastDeaths() {
    return lastDeaths == null ? List.of() : lastDeaths;
  }
}
