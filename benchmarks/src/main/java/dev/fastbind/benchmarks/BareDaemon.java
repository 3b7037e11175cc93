package dev.fastbind.benchmarks;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The floor of {@link ClientStart}'s memory rows: a bare JVM that binds a Unix socket and accepts,
 * answering the request loop's exchange (a 5-byte header, the payload, the same frame back as the
 * response) on its main thread, one connection after the other. No SDK class is loaded.
 *
 * <p>Arguments: the socket path, then {@code --lifetime=<seconds>} (default 600), after which the JVM
 * halts.
 */
public final class BareDaemon {

  private static final byte RESPONSE = 0x02;

  private BareDaemon() {}

  /** Binds, then serves until the lifetime runs out. */
  public static void main(String[] args) throws IOException {
    Thread watchdog = new Lifetime(lifetimeMillis(args));
    watchdog.setDaemon(true);
    watchdog.start();
    Path path = Path.of(args[0]);
    Files.deleteIfExists(path);
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(path));
    ByteBuffer header = ByteBuffer.allocate(5);
    while (true) {
      try (SocketChannel c = server.accept()) {
        while (true) {
          header.clear();
          if (!readFully(c, header)) {
            break;
          }
          ByteBuffer body = ByteBuffer.allocate(header.getInt(0));
          if (!readFully(c, body)) {
            break;
          }
          header.put(4, RESPONSE).rewind();
          body.flip();
          while (header.hasRemaining() || body.hasRemaining()) {
            c.write(new ByteBuffer[] {header, body});
          }
        }
      } catch (IOException clientLeft) {
        // the next one
      }
    }
  }

  private static boolean readFully(SocketChannel c, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (c.read(b) < 0) {
        return false;
      }
    }
    return true;
  }

  /** {@code --lifetime=<seconds>} from {@code args} in milliseconds; 600 s when absent. */
  static long lifetimeMillis(String[] args) {
    long seconds = 600;
    for (String a : args) {
      if (a.startsWith("--lifetime=")) {
        seconds = Long.parseLong(a.substring("--lifetime=".length()));
      }
    }
    return seconds * 1000;
  }

  /** Halts the JVM when the lifetime runs out. A class, not a lambda: the first lambda costs a JVM its machinery. */
  static final class Lifetime extends Thread {
    private final long millis;

    Lifetime(long millis) {
      super("bench-lifetime");
      this.millis = millis;
    }

    @Override
    public void run() {
      try {
        Thread.sleep(millis);
      } catch (InterruptedException e) {
        return;
      }
      Runtime.getRuntime().halt(99);
    }
  }
}
