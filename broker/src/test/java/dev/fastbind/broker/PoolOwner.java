package dev.fastbind.broker;

import dev.fastbind.backend.loop.Codec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * An owning JVM for {@code WorkerPoolTest}: {@code <runtime-dir> <workers>}. Starts a pool of
 * {@link LoopTestDaemon} workers, has each start a child ({@code child}), prints
 * {@code WORKER <worker pid> <child pid>} per worker and {@code READY}, then waits at most 60 s (a
 * bounded life; the test kills it with {@code SIGKILL} long before).
 */
public final class PoolOwner {
  private PoolOwner() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int workers = Integer.parseInt(args[1]);
    ServiceDefinition def = ServiceDefinition.builder("pooled")
        .javaMain(LoopTestDaemon.class.getName(), Fixtures.marker(dir), "--lifetime=60")
        .javaOptions(Fixtures.LIGHT_JVM)
        .runtimeDirectory(dir)
        .build();
    WorkerPool pool = WorkerPool.builder(def).size(workers).start();
    java.util.Set<Long> seen = new java.util.HashSet<>();
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (seen.size() < workers && System.nanoTime() < until) {
      for (DaemonInfo w : pool.workers()) {
        if (seen.add(w.pid())) {
          // Ask this worker directly, so that every worker starts one child.
          try (DaemonClient c = DaemonClient.create(new FixedTarget(w), def, Duration.ofSeconds(10))) {
            String child = c.call("child", Codec.utf8());
            System.out.println("WORKER " + w.pid() + " " + child);
          }
        }
      }
    }
    System.out.println("READY");
    System.out.flush();
    Thread.sleep(60_000); // the bounded life of a process the test kills
  }

  /** A target that is one worker, for addressing each in turn. */
  private record FixedTarget(DaemonInfo info) implements DaemonClient.Target {
    @Override
    public DaemonInfo ensureRunning() {
      return info;
    }

    @Override
    public ServiceStatus status() {
      return new ServiceStatus.Running(info, true, 100, java.util.Optional.empty());
    }

    @Override
    public java.util.Optional<DeathRecord> lastDeath() {
      return java.util.Optional.empty();
    }

    @Override
    public Path log() {
      return Path.of("/dev/null");
    }
  }
}
