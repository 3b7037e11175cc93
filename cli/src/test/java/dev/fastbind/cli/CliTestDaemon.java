package dev.fastbind.cli;

import dev.fastbind.testsupport.Lifetime;

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
 * A real daemon for the CLI's tests, through the SDK's bootstrap: {@code main(version, --marker=…,
 * --lifetime=seconds)}. It logs one line when it serves and one per connection (its stderr is the
 * service's log), answers each connection with its pid, and halts on its own after its lifetime so no
 * test leaves it behind for long.
 */
public final class CliTestDaemon {
  private CliTestDaemon() {}

  public static void main(String[] args) {
    Lifetime.haltAfter(args, 60);
    String version = args.length > 0 && !args[0].startsWith("--") ? args[0] : "1.0";
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), new Backend()).version(version).run();
  }

  static final class Backend implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws IOException {
      context.ready();
      long pid = ProcessHandle.current().pid();
      System.err.println("cli test daemon " + pid + " serving");
      byte[] answer = (pid + "\n").getBytes(StandardCharsets.US_ASCII);
      int n = 0;
      while (true) {
        try (SocketChannel c = listener.accept()) {
          System.err.println("cli test daemon " + pid + " answered connection " + (++n));
          c.write(ByteBuffer.wrap(answer));
        } catch (IOException e) {
          if (!listener.isOpen()) {
            throw e;
          }
        }
      }
    }
  }
}
