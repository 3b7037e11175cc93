package dev.fastbind.conformance.backends;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import org.newsclub.net.unix.AFUNIXServerSocketChannel;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * Deliberately broken daemons whose bind is fine but whose process misbehaves: the out-of-process
 * rules must catch them. Each has a {@code Main} the kit starts through the broker.
 */
public final class BrokenDaemons {

  private BrokenDaemons() {}

  /** Rule 203: binds with junixsocket's default SO_REUSEADDR, which replaces a live socket. */
  public static final class ReplacesLiveSocket implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      try {
        AFUNIXServerSocketChannel channel = AFUNIXServerSocketChannel.open();
        channel.bind(AFUNIXSocketAddress.of(endpoint.path().orElseThrow()));
        return new Broken.BareListener(endpoint, channel);
      } catch (IOException e) {
        throw new BindException.Io(endpoint.toString(), "bind failed", e);
      }
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return Broken.serveForever(listener, context);
    }
  }

  /** Rule 301: "loads its index" in main (simulated by a 4 s pause), before Daemon.run, so bind happens late. */
  public static final class SlowMain {
    public static void main(String[] args) throws InterruptedException {
      Thread.sleep(4_000);
      Daemon.builder("slow", new GoodBackend()).version("1.0").run(args);
    }
  }

  /** Rule 302: forgets to pass its version to the bootstrap. */
  public static final class ForgetsVersion {
    public static void main(String[] args) {
      Daemon.builder("unversioned", new GoodBackend()).run(args);
    }
  }

  /** Rule 303: serve fails at once (a missing cache directory, say) instead of serving. */
  public static final class ServeThrows implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      throw new IllegalStateException("cache directory missing");
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        Daemon.builder("thrower", new ServeThrows()).version("1.0").run(args);
      }
    }
  }

  /** Rule 304: serve binds an extra status socket with a bare JDK channel and never removes it. */
  public static final class LeavesFileOnShutdown implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      ServerSocketChannel status = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
      status.bind(UnixDomainSocketAddress.of(listener.endpoint().path().orElseThrow().resolveSibling("litter.status")));
      return Broken.serveForever(listener, context);
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        Daemon.builder("litter", new LeavesFileOnShutdown()).version("1.0").run(args);
      }
    }
  }
}
