package dev.fastbind.benchmarks;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonCallException;
import dev.fastbind.broker.DaemonClient;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.Supervision;
import dev.fastbind.broker.WorkerPool;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;

/**
 * The worker-pool harness, two ratios measured in one JVM against floors of the same run:
 *
 * <ol>
 *   <li><b>restart</b>: the wall time from a worker's {@code kill -9} to the next call the pool
 *       serves (the death noticed, a new worker started, the call answered), beside a cold start of
 *       the same daemon through the broker (the daemon absent, {@code ensureRunning} and the first
 *       call answered). Same {@link LaunchDaemon}, same JVM options, no class-data archive on either
 *       side; the two alternate round by round.
 *   <li><b>call</b>: one 64-byte echo through {@link WorkerPool#call(byte[])} (a pool of one) beside
 *       the same call through a {@link DaemonClient} to a brokered daemon; both sides in alternating
 *       blocks, each call timed alone with {@link System#nanoTime()} into a preallocated array.
 * </ol>
 *
 * <p>Arguments: {@code --runs=N} restart rounds (default 8), {@code --calls=N} timed calls per side
 * (default 20000); 0 skips that part. {@code benchmarks/run} runs the call part apart, pinned to one
 * CPU with {@code taskset} where it exists: both daemons then share the caller's core, so each side
 * sees the same scheduling. Unpinned on two cores, where each daemon's thread happens to run beside
 * the caller decides a call's time (medians of 24 and of 48 µs in one run), swinging the ratio by
 * half either way while the pool's own cost (choosing a worker) is below 0.1 µs. Output: {@code key=value} lines on stdout. The daemons halt themselves after two
 * minutes; the pool is closed and the brokered daemon stopped in any case.
 */
public final class PoolHarness {

  private static final int PAYLOAD_BYTES = 64;
  private static final int BLOCK = 1000;
  /** Calls per side before timing: both daemons' handlers and the launcher's client path compiled. */
  private static final int WARM_CALLS = 10_000;

  private PoolHarness() {}

  /** Runs the harness; see the type's documentation. */
  public static void main(String[] args) throws Exception {
    int runs = 8;
    int calls = 20_000;
    for (String a : args) {
      if (a.startsWith("--runs=")) {
        runs = Integer.parseInt(a.substring("--runs=".length()));
      } else if (a.startsWith("--calls=")) {
        calls = Integer.parseInt(a.substring("--calls=".length()));
      }
    }
    Path dir = SocketDirectory.create("fb-pool");
    ServiceDefinition def = ClientLauncher.definition(dir, false);
    Broker broker = Broker.create();
    byte[] payload = new byte[PAYLOAD_BYTES];
    Arrays.fill(payload, (byte) 'p');
    long[] restart = new long[runs];
    long[] cold = new long[runs];
    long[] noticed = new long[runs];
    java.util.List<Long> spawns = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.List<Long> deaths = new java.util.concurrent.CopyOnWriteArrayList<>();
    try (WorkerPool pool = WorkerPool.builder(def)
        .monitor(new java.util.function.Consumer<dev.fastbind.broker.WorkerEvent>() {
          @Override
          public void accept(dev.fastbind.broker.WorkerEvent e) {
            if (e instanceof dev.fastbind.broker.WorkerEvent.Started st) {
              spawns.add(st.startTime().toNanos());
            } else {
              deaths.add(System.nanoTime());
            }
          }
        })
        .supervision(Supervision.oneForOne(runs + 2, Duration.ofMinutes(10)))
        .startTimeout(Duration.ofSeconds(30))
        .start()) {
      pool.call(payload);
      for (int r = 0; r < runs; r++) {
        // Cold: the daemon absent, a fresh client's first call.
        broker.stop(def);
        long t0 = System.nanoTime();
        try (DaemonClient client = DaemonClient.create(broker, def)) {
          client.call(payload);
        }
        cold[r] = System.nanoTime() - t0;
        // Restart: kill -9 the pool's worker (this JVM's own child), then call until served.
        ProcessHandle worker = ProcessHandle.of(pool.workers().get(0).pid()).orElseThrow();
        long t1 = System.nanoTime();
        worker.destroyForcibly();
        callUntilServed(pool, payload);
        restart[r] = System.nanoTime() - t1;
        noticed[r] = deaths.get(deaths.size() - 1) - t1;
      }
      long[] pooled = new long[calls];
      long[] brokered = new long[calls];
      try (DaemonClient client = DaemonClient.create(broker, def)) {
        for (int i = 0; i < WARM_CALLS; i++) {
          pool.call(payload);
          client.call(payload);
        }
        // Alternating blocks, each side first in every other one: neither always follows the other.
        for (int from = 0, block = 0; from < calls; from += BLOCK, block++) {
          int to = Math.min(calls, from + BLOCK);
          if (block % 2 == 0) {
            timePool(pool, payload, pooled, from, to);
            timeClient(client, payload, brokered, from, to);
          } else {
            timeClient(client, payload, brokered, from, to);
            timePool(pool, payload, pooled, from, to);
          }
        }
      }
      if (runs > 0) {
        print("pool_restart_p50_ms", Percentiles.of(restart).at(50) / 1e6);
        print("pool_cold_p50_ms", Percentiles.of(cold).at(50) / 1e6);
        print("pool_restart_noticed_p50_ms", Percentiles.of(noticed).at(50) / 1e6);
        long[] spawnTimes = spawns.stream().skip(1).mapToLong(Long::longValue).toArray();
        print("pool_restart_spawn_p50_ms", Percentiles.of(spawnTimes).at(50) / 1e6);
      }
      if (calls > 0) {
        print("pool_call_p50_us", Percentiles.of(pooled).at(50) / 1e3);
        print("pool_brokered_call_p50_us", Percentiles.of(brokered).at(50) / 1e3);
        print("pool_call_p99_us", Percentiles.of(pooled).at(99) / 1e3);
        print("pool_brokered_call_p99_us", Percentiles.of(brokered).at(99) / 1e3);
      }
    } finally {
      broker.stop(def);
      SocketDirectory.deleteTree(dir);
    }
  }

  private static void timePool(WorkerPool pool, byte[] payload, long[] into, int from, int to) throws IOException {
    for (int i = from; i < to; i++) {
      long t = System.nanoTime();
      pool.call(payload);
      into[i] = System.nanoTime() - t;
    }
  }

  private static void timeClient(DaemonClient client, byte[] payload, long[] into, int from, int to)
      throws IOException {
    for (int i = from; i < to; i++) {
      long t = System.nanoTime();
      client.call(payload);
      into[i] = System.nanoTime() - t;
    }
  }

  /** Calls until the pool answers: the first call may meet the dying worker and fail. */
  private static void callUntilServed(WorkerPool pool, byte[] payload) throws IOException {
    for (int attempt = 0; attempt < 5; attempt++) {
      try {
        pool.call(payload, Duration.ofSeconds(30));
        return;
      } catch (DaemonCallException diedMeanwhile) {
        // the call met the killed worker; the next one is served by its successor
      }
    }
    throw new IOException("the pool served no call in 5 attempts after its worker was killed");
  }

  private static void print(String key, double value) {
    System.out.println(key + "=" + String.format(Locale.ROOT, "%.3f", value));
  }
}
