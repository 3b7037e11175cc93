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
 * table on {@code Daemon}.
 *
 * <p>They are registered once, on first use rather than when the holder is made: the bootstrap first
 * uses it after readiness is announced, so registering (some 50 Micrometer classes on a cold JVM)
 * is off the way to bind and readiness. The request loop gets its meters already resolved
 * ({@link #loop()}), so a request only records.
 */
public final class MicrometerDaemonMetrics implements DaemonMetrics {
  private final MeterRegistry registry;
  /** Held strongly: Micrometer keeps only a weak reference to what a function counter reads. */
  private final List<IpcListener> watched = new CopyOnWriteArrayList<>();
  /** Null until first use; guarded by this. */
  private Meters meters;

  private MicrometerDaemonMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  /** A holder recording into {@code registry}; nothing is registered before it is first used. */
  public static DaemonMetrics of(MeterRegistry registry) {
    return new MicrometerDaemonMetrics(Objects.requireNonNull(registry, "registry"));
  }

  private synchronized Meters meters() {
    if (meters == null) {
      meters = new Meters(registry);
    }
    return meters;
  }

  @Override
  public void warmedUp(long nanos) {
    meters().warmup.record(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void exiting(DeathRecordCodec.Cause cause) {
    if (cause == DeathRecordCodec.Cause.IDLE_TIMEOUT) {
      meters().idleExits.increment();
    }
    // Once per process, on the way out: looked up here rather than registered for every cause.
    Counter.builder("fastbind.daemon.exits").tag("reason", cause.name().toLowerCase(Locale.ROOT).replace('_', '-'))
        .description("how the daemon ended, as its death record says").register(registry).increment();
  }

  @Override
  public void watchRejections(String name, IpcListener listener) {
    meters();
    watched.add(listener);
    FunctionCounter.builder("fastbind.daemon.peers.rejected", listener, IpcListener::rejectedPeers)
        .tag("listener", name).description("connections refused because the peer runs as another user")
        .register(registry);
  }

  @Override
  public LoopMeters loop() {
    return meters();
  }

  /** Every meter but the per-cause exits, resolved at once; what the loop records into. */
  private static final class Meters implements LoopMeters {
    final Timer warmup;
    final Counter idleExits;
    final Counter connections;
    final AtomicInteger active = new AtomicInteger();
    final Timer[] requests;

    Meters(MeterRegistry registry) {
      warmup = Timer.builder("fastbind.daemon.warmup")
          .description("from the start of the bootstrap to ServeContext.ready()").register(registry);
      idleExits = Counter.builder("fastbind.daemon.idle.exits")
          .description("stops after the idle timeout").register(registry);
      connections = Counter.builder("fastbind.daemon.connections")
          .description("connections the request loop accepted").register(registry);
      Gauge.builder("fastbind.daemon.connections.active", active, AtomicInteger::get)
          .description("connections the request loop has open").strongReference(true).register(registry);
      requests = new Timer[OUTCOMES.size()];
      for (int i = 0; i < requests.length; i++) {
        requests[i] = Timer.builder("fastbind.daemon.requests").tag("outcome", OUTCOMES.get(i))
            .description("requests of the request loop, from read to answer").register(registry);
      }
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
}
