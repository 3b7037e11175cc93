package dev.fastbind.backend.internal;

import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@link DaemonMetrics} recorded into a Micrometer registry: the only class of backend-api that names
 * a Micrometer type, so that Micrometer can stay an optional dependency. The meters are those of the
 * table on {@code Daemon}; they are registered here, once, and the methods only record into them.
 */
public final class MicrometerDaemonMetrics implements DaemonMetrics, DaemonMetrics.LoopMeters {
  private final MeterRegistry registry;
  private final Timer warmup;
  private final Counter idleExits;
  private final Counter connections;
  private final AtomicInteger active = new AtomicInteger();
  private final Timer[] requests;
  /** Held strongly: Micrometer keeps only a weak reference to what a function counter reads. */
  private final List<IpcListener> watched = new CopyOnWriteArrayList<>();

  private MicrometerDaemonMetrics(MeterRegistry registry) {
    this.registry = registry;
    this.warmup = Timer.builder("fastbind.daemon.warmup")
        .description("from the start of the bootstrap to ServeContext.ready()").register(registry);
    this.idleExits = Counter.builder("fastbind.daemon.idle.exits")
        .description("stops after the idle timeout").register(registry);
    this.connections = Counter.builder("fastbind.daemon.connections")
        .description("connections the request loop accepted").register(registry);
    Gauge.builder("fastbind.daemon.connections.active", active, AtomicInteger::get)
        .description("connections the request loop has open").strongReference(true).register(registry);
    this.requests = new Timer[LoopMeters.OUTCOMES.size()];
    for (int i = 0; i < requests.length; i++) {
      requests[i] = Timer.builder("fastbind.daemon.requests").tag("outcome", LoopMeters.OUTCOMES.get(i))
          .description("requests of the request loop, from read to answer").register(registry);
    }
  }

  /** A holder recording into {@code registry}; its meters are registered now. */
  public static DaemonMetrics of(MeterRegistry registry) {
    return new MicrometerDaemonMetrics(Objects.requireNonNull(registry, "registry"));
  }

  @Override
  public void warmedUp(long nanos) {
    warmup.record(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void exiting(DeathRecordCodec.Cause cause) {
    if (cause == DeathRecordCodec.Cause.IDLE_TIMEOUT) {
      idleExits.increment();
    }
    // Once per process, on the way out: looked up here rather than registered for every cause.
    Counter.builder("fastbind.daemon.exits").tag("reason", cause.name().toLowerCase(Locale.ROOT).replace('_', '-'))
        .description("how the daemon ended, as its death record says").register(registry).increment();
  }

  @Override
  public void watchRejections(String name, IpcListener listener) {
    watched.add(listener);
    FunctionCounter.builder("fastbind.daemon.peers.rejected", listener, IpcListener::rejectedPeers)
        .tag("listener", name).description("connections refused because the peer runs as another user")
        .register(registry);
  }

  @Override
  public LoopMeters loop() {
    return this;
  }

  @Override
  public void opened() {
    connections.increment();
    active.incrementAndGet();
  }

  @Override
  public void closed() {
    active.decrementAndGet();
  }

  @Override
  public void request(int outcome, long nanos) {
    requests[outcome].record(nanos, TimeUnit.NANOSECONDS);
  }
}
