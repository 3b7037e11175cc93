package dev.fastbind.benchmarks;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.ControlHandler;
import dev.fastbind.backend.internal.ControlServer;
import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.ProcessIdentity;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
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
 * A {@code HELLO} round trip on the control endpoint: connect, framed request, framed reply, decode.
 * What {@code Broker.status} and a version check pay.
 *
 * <p>The {@link ControlServer} runs in the benchmark's own JVM on its own threads, answering from a
 * fixed snapshot, so the figure is the protocol and the socket, not a daemon's scheduling.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class HelloBenchmark {

  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  private Path dir;
  private Endpoint control;
  private ControlServer server;

  /** Binds the control endpoint and starts the server. */
  @Setup(Level.Trial)
  public void setUp() throws IOException {
    dir = SocketDirectory.create("fb-hello");
    control = Endpoint.unixPath(dir.resolve("h.ctl"));
    HelloReply snapshot = new HelloReply("bench", "1.0", ProcessIdentity.currentPid(),
        "0123456789abcdef0123456789abcdef", DaemonState.READY, 100, Optional.empty());
    server = ControlServer.start(IpcListener.bind(control), new ControlHandler() {
      @Override
      public HelloReply hello() {
        return snapshot;
      }

      @Override
      public void shutdown() {
        // the benchmark never sends SHUTDOWN
      }
    });
  }

  /** Stops the server and removes the directory. */
  @TearDown(Level.Trial)
  public void tearDown() {
    server.close();
    SocketDirectory.deleteTree(dir);
  }

  /** One HELLO round trip through the SDK's client. */
  @Benchmark
  public HelloReply hello() throws IOException {
    return ControlClient.hello(control, TIMEOUT);
  }
}
