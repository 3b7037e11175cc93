package dev.fastbind.benchmarks;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The first bind in a fresh JVM: what a daemon pays between {@code main} and an endpoint that exists.
 *
 * <p>Single-shot: one invocation per fork, no warm-up, so each sample includes loading and linking
 * the Unix-domain channel classes (and, for {@link #fastbind}, the SDK's own). Run with several forks
 * ({@code benchmarks/run} uses 5 in quick mode and 15 in full) and read the mean and the spread.
 * The two benchmarks run in separate forks, so neither warms the other's classes; the setup touches
 * only {@link java.nio.file.Files}, which every daemon has loaded before it binds.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 0)
@Measurement(iterations = 1, batchSize = 1)
public class FirstBindBenchmark {

  private Path dir;
  private Path socket;

  /** Creates the scratch directory. */
  @Setup(Level.Trial)
  public void setUp() {
    dir = SocketDirectory.create("fb-first");
    socket = dir.resolve("f.sock");
  }

  /** Removes the scratch directory. */
  @TearDown(Level.Trial)
  public void tearDown() {
    SocketDirectory.deleteTree(dir);
  }

  /** {@code Endpoint.unixPath} + {@code IpcListener.bind} + {@code close()}, cold. */
  @Benchmark
  public IpcListener fastbind() throws IOException {
    IpcListener listener = IpcListener.bind(Endpoint.unixPath(socket));
    listener.close();
    return listener;
  }

  /** The bare JDK channel bind and close, cold; the file is removed in tear-down. */
  @Benchmark
  public ServerSocketChannel jdk() throws IOException {
    ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    channel.bind(UnixDomainSocketAddress.of(socket), 1024);
    channel.close();
    return channel;
  }
}
