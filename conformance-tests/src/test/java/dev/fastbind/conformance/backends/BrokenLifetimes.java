package dev.fastbind.conformance.backends;

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
 * Deliberately broken daemons that bind and serve well but get their own lifetime wrong: what the
 * daemon reports about warm-up (rule 308) and when it ends when idle (rule 501). Their mains read
 * the idle timeout from {@link GoodBackend#IDLE_PROPERTY}, as the good backend's does.
 */
public final class BrokenLifetimes {

  private BrokenLifetimes() {}

  /** Rule 308: reports its warm-up progress up to 100 % and serves, but never calls {@code context.ready()}. */
  public static final class ForgetsReady implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      context.progress(100, "index loaded");
      while (true) {
        SocketChannel c = listener.accept();
        Thread t = new Thread(() -> GoodBackend.serveOne(c, new GoodBackend.InFlight()), "forgets-ready-connection");
        t.setDaemon(true);
        t.start();
      }
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        Daemon.builder("unready", new ForgetsReady()).version("1.0").run(args);
      }
    }
  }

  /**
   * Rule 501: a server stack of its own (a thread per connection) that never takes a
   * {@code context.busy()} handle, so the SDK counts it idle while a client is connected and the
   * idle timeout ends the daemon under an open connection.
   */
  public static final class NeverBusy implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      context.ready();
      while (true) {
        SocketChannel c = listener.accept();
        Thread t = new Thread(() -> GoodBackend.serveOne(c, new GoodBackend.InFlight()), "never-busy-connection");
        t.setDaemon(true);
        t.start();
      }
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        GoodBackend.idleFromProperty(Daemon.builder("never-busy", new NeverBusy()).version("1.0")).run(args);
      }
    }
  }

  /**
   * Rule 501: takes a {@code context.busy()} handle per connection but closes it only after it has
   * answered a request (a line), not in a {@code finally}: a client that hangs up without a request
   * leaks the handle, and the daemon is never idle again.
   */
  public static final class LeaksBusy implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      context.ready();
      while (true) {
        SocketChannel c = listener.accept();
        ServeContext.Busy busy = context.busy();
        Thread t = new Thread(() -> answerOneLine(c, busy), "leaks-busy-connection");
        t.setDaemon(true);
        t.start();
      }
    }

    private static void answerOneLine(SocketChannel c, ServeContext.Busy busy) {
      try (c) {
        ByteBuffer b = ByteBuffer.allocate(256);
        while (c.read(b) >= 0) {
          for (int i = 0; i < b.position(); i++) {
            if (b.get(i) == '\n') {
              c.write(ByteBuffer.wrap("ok\n".getBytes(StandardCharsets.US_ASCII)));
              busy.close(); // the bug: only on the answered path
              return;
            }
          }
          if (!b.hasRemaining()) {
            b.clear();
          }
        }
      } catch (IOException clientWentAway) {
        // nothing to answer
      }
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        GoodBackend.idleFromProperty(Daemon.builder("leaks-busy", new LeaksBusy()).version("1.0")).run(args);
      }
    }
  }
}
