package dev.fastbind.benchmarks;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.internal.wire.LoopFrames;
import dev.fastbind.backend.loop.RequestContext;
import dev.fastbind.backend.loop.RequestLoop;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The daemon of {@link LoopBenchmark}: one process that answers the same exchange twice, so that
 * both sides of the ratio share its JVM, its flags and its scheduling.
 *
 * <ul>
 *   <li>its main endpoint is served by the SDK's {@link RequestLoop} with an echo handler, on
 *       platform threads (the loop's default) or, with {@code --virtual=true}, virtual ones;
 *   <li>{@code --raw=PATH} is served by the floor: a raw JDK {@code ServerSocketChannel} with one
 *       platform thread per connection, blocking reads of the 5-byte header and the payload, and one
 *       blocking write of the same frame back. No selector, no pool, no handler: what a hand-written
 *       server on the JDK's channels costs.
 * </ul>
 *
 * <p>Bounded lifetime: {@code --lifetime=<seconds>} (default 600) halts the JVM.
 */
public final class LoopBenchDaemon implements BrokeredBackend {

  private LoopBenchDaemon() {}

  /** Runs the daemon; never returns. */
  public static void main(String[] args) {
    long lifetimeSeconds = 600;
    for (String a : args) {
      if (a.startsWith("--lifetime=")) {
        lifetimeSeconds = Long.parseLong(a.substring("--lifetime=".length()));
      }
    }
    long millis = lifetimeSeconds * 1000;
    Thread watchdog = new Thread(() -> {
      try {
        Thread.sleep(millis);
      } catch (InterruptedException e) {
        return;
      }
      Runtime.getRuntime().halt(99);
    }, "loop-bench-lifetime");
    watchdog.setDaemon(true);
    watchdog.start();
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), new LoopBenchDaemon()).version("1.0").run(args);
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    boolean virtual = false;
    for (String a : context.arguments()) {
      if (a.startsWith("--raw=")) {
        startRaw(Path.of(a.substring("--raw=".length())));
      } else if (a.equals("--virtual=true")) {
        virtual = true;
      }
    }
    return RequestLoop.builder().virtualThreads(virtual)
        .serve(listener, context, (byte[] request, RequestContext ctx) -> request);
  }

  private static void startRaw(Path path) throws IOException {
    Files.deleteIfExists(path);
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(path));
    Thread acceptor = new Thread(() -> {
      while (true) {
        SocketChannel c;
        try {
          c = server.accept();
        } catch (IOException e) {
          return;
        }
        Thread t = new Thread(() -> echo(c), "raw-connection");
        t.setDaemon(true);
        t.start();
      }
    }, "raw-accept");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** The floor's exchange: read a frame, write it back as the answer, until the client goes. */
  private static void echo(SocketChannel c) {
    try (c) {
      ByteBuffer header = ByteBuffer.allocate(LoopFrames.HEADER_BYTES);
      while (true) {
        header.clear();
        if (!readFully(c, header)) {
          return;
        }
        ByteBuffer body = ByteBuffer.allocate(header.getInt(0));
        if (!readFully(c, body)) {
          return;
        }
        ByteBuffer reply = LoopFrames.frame(LoopFrames.RESPONSE, body.array());
        while (reply.hasRemaining()) {
          c.write(reply);
        }
      }
    } catch (IOException e) {
      // the benchmark went away
    }
  }

  static boolean readFully(SocketChannel c, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (c.read(b) < 0) {
        return false;
      }
    }
    return true;
  }
}
