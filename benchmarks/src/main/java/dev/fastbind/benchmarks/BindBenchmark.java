package dev.fastbind.benchmarks;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
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
 * The warm bind cycle: create a listening Unix-domain socket at a path, then close it and remove
 * the file, as a daemon does once per life and a test suite does thousands of times.
 *
 * <p>Three variants on the same path in the same {@link SocketDirectory}: {@link #fastbind} is the
 * SDK's {@link IpcListener#bind} and {@code close()} (which also make the file owner-only and check
 * on close that the file is still ours, two more system calls each way); {@link #jdk} is the bare
 * JDK channel cycle; {@link #junixsocket} is junixsocket's server socket with {@code SO_REUSEADDR}
 * off. The C program in {@code src/main/c} measures the same cycle with no runtime at all: the floor
 * these are divided by. Sample-time mode, so the report has p50, p99 and p99.9; each result is
 * returned to JMH so the work cannot be dropped.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class BindBenchmark {

  private Path dir;
  private Path socket;
  private Endpoint endpoint;
  private UnixDomainSocketAddress jdkAddress;
  private AFUNIXSocketAddress junixAddress;

  /** Creates the scratch directory and the addresses once per trial. */
  @Setup(Level.Trial)
  public void setUp() throws IOException {
    dir = SocketDirectory.create("fb-bind");
    socket = dir.resolve("b.sock");
    endpoint = Endpoint.unixPath(socket);
    jdkAddress = UnixDomainSocketAddress.of(socket);
    junixAddress = AFUNIXSocketAddress.of(socket);
  }

  /** Removes the scratch directory. */
  @TearDown(Level.Trial)
  public void tearDown() {
    SocketDirectory.deleteTree(dir);
  }

  /** The SDK: {@code IpcListener.bind} then {@code close()}, which unlinks the socket file. */
  @Benchmark
  public IpcListener fastbind() throws IOException {
    IpcListener listener = IpcListener.bind(endpoint);
    listener.close();
    return listener;
  }

  /** The bare JDK channel: open, bind with backlog, close, delete. */
  @Benchmark
  public ServerSocketChannel jdk() throws IOException {
    ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    channel.bind(jdkAddress, 1024);
    channel.close();
    Files.delete(socket);
    return channel;
  }

  /** junixsocket: new server socket, no address reuse, bind with backlog, close, delete. */
  @Benchmark
  public AFUNIXServerSocket junixsocket() throws IOException {
    AFUNIXServerSocket server = AFUNIXServerSocket.newInstance();
    server.setReuseAddress(false);
    server.setDeleteOnClose(false);
    server.bind(junixAddress, 1024);
    server.close();
    Files.delete(socket);
    return server;
  }

}
