package dev.fastbind.benchmarks;

import dev.fastbind.broker.internal.Probe;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
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
 * The connect probe: is something listening at a socket path? What the broker's hot path pays once
 * per launcher invocation.
 *
 * <p>A JDK listener in the {@link SocketDirectory} is drained by an accept thread (closed connections
 * would otherwise fill its backlog). {@link #jdkConnect} is a bare blocking JDK connect and close;
 * {@link #brokerProbe} is the broker's own non-blocking probe. The C floor measures the same connect.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class ProbeBenchmark {

  private Path dir;
  private Path socket;
  private UnixDomainSocketAddress address;
  private ServerSocketChannel listener;
  private Thread acceptor;

  /** Binds the listener and starts the thread that accepts and closes every connection. */
  @Setup(Level.Trial)
  public void setUp() throws IOException {
    dir = SocketDirectory.create("fb-probe");
    socket = dir.resolve("p.sock");
    address = UnixDomainSocketAddress.of(socket);
    listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    listener.bind(address, 1024);
    acceptor = new Thread(this::drain, "probe-benchmark-acceptor");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  @SuppressWarnings("try") // each connection is accepted only to be closed
  private void drain() {
    while (listener.isOpen()) {
      try (SocketChannel ignored = listener.accept()) {
        // accepted only to keep the backlog empty
      } catch (IOException closed) {
        return;
      }
    }
  }

  /** Closes the listener (which ends the accept thread) and removes the directory. */
  @TearDown(Level.Trial)
  public void tearDown() throws IOException, InterruptedException {
    listener.close();
    acceptor.join(TimeUnit.SECONDS.toMillis(5));
    SocketDirectory.deleteTree(dir);
  }

  /** A blocking JDK connect and close. */
  @Benchmark
  public SocketChannel jdkConnect() throws IOException {
    SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
    channel.connect(address);
    channel.close();
    return channel;
  }

  /** The broker's non-blocking probe. */
  @Benchmark
  public boolean brokerProbe() {
    return Probe.connects(socket);
  }
}
