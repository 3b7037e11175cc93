package dev.fastbind.benchmarks;

import dev.fastbind.backend.internal.wire.LoopFrames;
import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonClient;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
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
 * A request round trip through the request loop's client against the same exchange on a raw JDK
 * channel, both answered by one real daemon ({@link LoopBenchDaemon}) the broker spawns.
 *
 * <p>Both sides send the same 64-byte payload in the same frame and read the same echoed frame:
 * {@link #client()} through {@link DaemonClient#call(byte[])} (a pooled connection, its deadline and
 * the loop's I/O thread, handler thread and drain bookkeeping on the daemon side); {@link #raw()} on
 * one blocking JDK {@code SocketChannel} to a thread that does nothing but echo. The payload is made
 * once in set-up for both, so neither side pays harness costs, and both return the answer to JMH.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class LoopBenchmark {

  private static final int PAYLOAD_BYTES = 64;
  /**
   * {@code -Dfastbind.bench.loop.virtual=true} (in the JMH fork, {@code -jvmArgsAppend}) serves the
   * loop on virtual threads ({@code RequestLoop.Builder.virtualThreads}); the floor is unchanged.
   */
  static final String VIRTUAL_PROPERTY = "fastbind.bench.loop.virtual";

  private Path dir;
  private Broker broker;
  private ServiceDefinition definition;
  private DaemonClient client;
  private SocketChannel raw;
  private byte[] payload;
  private ByteBuffer rawRequest;
  private final ByteBuffer rawHeader = ByteBuffer.allocate(LoopFrames.HEADER_BYTES);

  /** Spawns the daemon, makes the client's first connection and the raw connection. */
  @Setup(Level.Trial)
  public void setUp() throws IOException {
    dir = SocketDirectory.create("fb-loop");
    Path rawPath = dir.resolve("raw.sock");
    broker = Broker.create();
    definition = ServiceDefinition.builder("bench-loop")
        .javaMain(LoopBenchDaemon.class.getName(), "--lifetime=600", "--raw=" + rawPath,
            "--virtual=" + Boolean.getBoolean(VIRTUAL_PROPERTY))
        .javaOptions(ColdStart.JVM_FLAGS.toArray(String[]::new))
        .runtimeDirectory(dir)
        .probeBudget(Duration.ofSeconds(10)) // two busy cores can take more than the default to start a JVM
        .build();
    DaemonInfo info = broker.ensureRunning(definition);
    if (!info.spawned()) {
      throw new IllegalStateException("expected a fresh daemon in " + dir + ", found " + info);
    }
    payload = new byte[PAYLOAD_BYTES];
    Arrays.fill(payload, (byte) 'p');
    client = DaemonClient.create(broker, definition);
    if (!Arrays.equals(payload, client.call(payload))) {
      throw new IllegalStateException("the loop daemon did not echo");
    }
    raw = SocketChannel.open(StandardProtocolFamily.UNIX);
    raw.connect(UnixDomainSocketAddress.of(rawPath)); // the daemon's serve binds it before its loop starts
    rawRequest = LoopFrames.frame(LoopFrames.REQUEST, payload);
    if (!Arrays.equals(payload, raw())) {
      throw new IllegalStateException("the raw server did not echo");
    }
  }

  /** Closes both connections, stops the daemon and removes the directory. */
  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    try {
      client.close();
      raw.close();
      broker.stop(definition);
    } finally {
      SocketDirectory.deleteTree(dir);
    }
  }

  /** One round trip through the SDK: client, frame, loop, handler and back. */
  @Benchmark
  public byte[] client() throws IOException {
    return client.call(payload);
  }

  /** The floor: the same frames on a raw blocking JDK channel to a thread that only echoes. */
  @Benchmark
  public byte[] raw() throws IOException {
    ByteBuffer request = rawRequest.duplicate();
    while (request.hasRemaining()) {
      raw.write(request);
    }
    rawHeader.clear();
    LoopBenchDaemon.readFully(raw, rawHeader);
    ByteBuffer body = ByteBuffer.allocate(rawHeader.getInt(0));
    LoopBenchDaemon.readFully(raw, body);
    return body.array();
  }
}
