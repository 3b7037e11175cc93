package dev.fastbind.broker.internal;

/**
 * The broker's timings, behind an interface so that a broker built without a {@code MeterRegistry}
 * never loads a Micrometer class: {@link #NONE} records nothing, {@link MicrometerMetrics} is
 * created only from the method that receives a registry.
 */
public interface Metrics {

  /** Records nothing and costs nothing. */
  Metrics NONE = new Metrics() {
    @Override
    public void ensure(String outcome, long nanos) {}

    @Override
    public void probe(boolean connected, long nanos) {}

    @Override
    public void spawn(String mode, long nanos) {}

    @Override
    public void readiness(String outcome, long nanos) {}
  };

  /** One {@code ensureRunning} call, tagged {@code reused}, {@code spawned} or {@code failed}. */
  void ensure(String outcome, long nanos);

  /** One connect probe of a daemon endpoint. */
  void probe(boolean connected, long nanos);

  /** Starting a daemon process, tagged by mode ({@code command} or {@code java}). */
  void spawn(String mode, long nanos);

  /** From spawn to readiness (or failure), tagged {@code ready}, {@code failed} or {@code timeout}. */
  void readiness(String outcome, long nanos);

  /**
   * A worker pool's supervision event: {@code started}, {@code died} (with the reason), {@code restarted}
   * or {@code gave-up}; {@code reason} is "" except for {@code died}.
   */
  default void worker(String pool, String event, String reason) {}
}
