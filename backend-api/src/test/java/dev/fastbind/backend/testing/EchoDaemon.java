package dev.fastbind.backend.testing;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * A real daemon for process tests: warms for {@code warm-ms=N} milliseconds (default 0) reporting
 * progress, then answers each connection's first bytes with {@code echo:} and those bytes (and,
 * when they start with {@code stop:}, then asks for its own shutdown with the rest as the reason).
 * Each connection holds {@link ServeContext#busy()}; {@code -Dfastbind.test.idle-ms=} sets an idle timeout. While
 * warming, connections wait in the accept backlog, as the contract promises.
 *
 * <p>Arguments (after the bootstrap's own): {@code warm-ms=N}; {@code fail-serve} throws at once;
 * {@code return-serve} returns null from serve.
 */
public final class EchoDaemon implements BrokeredBackend {

  public static void main(String[] args) {
    Daemon.Builder builder = Daemon.builder(System.getProperty("fastbind.test.service", "echo"), new EchoDaemon())
        .version("1.2.3");
    Long idleMillis = Long.getLong("fastbind.test.idle-ms");
    if (idleMillis != null) {
      builder.idleTimeout(java.time.Duration.ofMillis(idleMillis));
    }
    builder.run(args);
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    long warmMillis = 0;
    for (String arg : context.arguments()) {
      if (arg.startsWith("warm-ms=")) {
        warmMillis = Long.parseLong(arg.substring("warm-ms=".length()));
      } else if (arg.equals("fail-serve")) {
        throw new IllegalStateException("cache index is corrupt (deliberate test failure)");
      } else if (arg.equals("return-serve")) {
        return null;
      }
    }
    long start = System.nanoTime();
    long end = start + warmMillis * 1_000_000;
    while (System.nanoTime() - end < 0) {
      long done = (System.nanoTime() - start) / 1_000_000;
      context.progress((int) Math.min(99, done * 100 / Math.max(1, warmMillis)), "loading index");
      Thread.sleep(Math.min(50, Math.max(1, (end - System.nanoTime()) / 1_000_000)));
    }
    context.ready();
    while (true) {
      SocketChannel connection = listener.accept();
      ServeContext.Busy busy = context.busy();
      Thread t = new Thread(() -> {
        try (busy) {
          answer(connection, context);
        }
      }, "echo-connection");
      t.setDaemon(true);
      t.start();
    }
  }

  private static void answer(SocketChannel connection, ServeContext context) {
    try (connection) {
      ByteBuffer in = ByteBuffer.allocate(1024);
      if (connection.read(in) <= 0) {
        return; // a probe: connect and close
      }
      in.flip();
      String text = StandardCharsets.US_ASCII.decode(in.duplicate()).toString();
      ByteBuffer out = ByteBuffer.allocate(in.remaining() + 5);
      out.put("echo:".getBytes(StandardCharsets.US_ASCII)).put(in).flip();
      while (out.hasRemaining()) {
        connection.write(out);
      }
      if (text.startsWith("stop:")) { // answered first: EchoDaemon has no drain
        context.requestShutdown("a client asked: " + text.substring("stop:".length()).trim());
      }
    } catch (IOException ignored) {
      // a client that went away
    }
  }
}
