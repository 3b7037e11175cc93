package dev.fastbind.broker.internal;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * {@link Metrics} recorded as Micrometer timers: {@code fastbind.broker.ensure} (tag
 * {@code outcome}), {@code fastbind.broker.probe} (tag {@code connected}),
 * {@code fastbind.broker.spawn} (tag {@code mode}) and {@code fastbind.broker.readiness} (tag
 * {@code outcome}).
 */
public final class MicrometerMetrics implements Metrics {
  private final MeterRegistry registry;

  /** Records into {@code registry}. */
  public MicrometerMetrics(MeterRegistry registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
  }

  private void time(String name, String tag, String value, long nanos) {
    Timer.builder(name).tag(tag, value).register(registry).record(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void ensure(String outcome, long nanos) {
    time("fastbind.broker.ensure", "outcome", outcome, nanos);
  }

  @Override
  public void probe(boolean connected, long nanos) {
    time("fastbind.broker.probe", "connected", Boolean.toString(connected), nanos);
  }

  @Override
  public void spawn(String mode, long nanos) {
    time("fastbind.broker.spawn", "mode", mode, nanos);
  }

  @Override
  public void readiness(String outcome, long nanos) {
    time("fastbind.broker.readiness", "outcome", outcome, nanos);
  }

  @Override
  public void worker(String pool, String event, String reason) {
    io.micrometer.core.instrument.Counter.builder("fastbind.pool.events").tag("pool", pool).tag("event", event)
        .tag("reason", reason).register(registry).increment();
  }
}
