package dev.fastbind.benchmarks;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The broker's hot path: {@code ensureRunning} when the daemon is already up, inside a warm JVM.
 * What every launcher invocation pays once its own JVM is running.
 *
 * <p>The trial spawns a real {@link BenchDaemon} through the real broker in the
 * {@link SocketDirectory}, and stops it in tear-down (the daemon also halts itself after ten
 * minutes). Each invocation reads the lockfile, checks the pid and its start time, and probes the
 * endpoint; the returned {@link DaemonInfo} goes back to JMH.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class HotPathBenchmark {

  private Path dir;
  private Broker broker;
  private ServiceDefinition definition;

  /** Spawns the daemon. */
  @Setup(Level.Trial)
  public void setUp() throws IOException {
    dir = SocketDirectory.create("fb-hot");
    broker = Broker.create();
    definition = ServiceDefinition.builder("bench-hot")
        .javaMain(BenchDaemon.class.getName(), "--lifetime=600")
        .javaOptions(ColdStart.JVM_FLAGS.toArray(String[]::new))
        .runtimeDirectory(dir)
        // the spawn is set-up, not the figure: on a loaded 2-core machine it may pass the 500 ms default
        .probeBudget(Duration.ofSeconds(10))
        .build();
    DaemonInfo info = broker.ensureRunning(definition);
    if (!info.spawned()) {
      throw new IllegalStateException("expected a fresh daemon in " + dir + ", found " + info);
    }
  }

  /** Stops the daemon and removes the directory. */
  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    try {
      broker.stop(definition);
    } finally {
      SocketDirectory.deleteTree(dir);
    }
  }

  /** {@code ensureRunning} with the daemon up: the lock-free hot path. */
  @Benchmark
  public DaemonInfo ensureRunning() throws IOException {
    return broker.ensureRunning(definition);
  }
}
