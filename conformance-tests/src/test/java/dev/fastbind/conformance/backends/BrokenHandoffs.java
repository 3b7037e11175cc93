package dev.fastbind.conformance.backends;

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
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Deliberately broken daemons for the hand-off rules (4xx): each serves without the hand-off as
 * well as it seems to, and loses connections once the broker binds the endpoint or replaces it.
 */
public final class BrokenHandoffs {

  private BrokenHandoffs() {}

  /**
   * Rule 401: serves through a "framework" that insists on binding its own server socket, and does
   * it carefully so the endpoint never refuses a connect: it binds a socket at a temporary path,
   * renames it over the endpoint, and only then closes the listener the SDK gave it. Without the
   * hand-off nobody notices; with it, every connection already waiting in the broker-bound socket's
   * backlog is reset when that socket closes.
   */
  public static final class ClosesAndRebinds implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      Path path = listener.endpoint().path().orElseThrow();
      Path staging = path.resolveSibling(path.getFileName() + ".new");
      ServerSocketChannel own = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
      own.bind(UnixDomainSocketAddress.of(staging));
      Files.move(staging, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      listener.close(); // "the framework serves its own socket now"
      return Broken.serveForever(new Broken.BareListener(listener.endpoint(), own), context);
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        Daemon.builder("rebinder", new ClosesAndRebinds()).version("1.0").run(args);
      }
    }
  }

  /**
   * Rule 401, from {@code main}: asks the JDK for an inherited channel before {@code Daemon.run}
   * ("were we started by inetd?"). The JDK answers once and keeps the answer ({@code null}: standard
   * input is {@code /dev/null}); the SDK adopts the handed-off socket through descriptor 0 and that
   * same call, so it sees no listener and fails closed, and the connections waiting in the backlog
   * are reset.
   */
  public static final class AsksForInheritedChannelFirst {
    public static void main(String[] args) throws IOException {
      if (System.inheritedChannel() != null) {
        System.err.println("inherited: started by inetd");
      }
      Daemon.builder("inetd-check", new GoodBackend()).version("1.0").run(args);
    }
  }

  /**
   * Rule 402, which no backend can break (the SDK fails before it calls any backend code): a
   * {@code main} with a "fallback listener". A shutdown hook registered before {@code Daemon.run}
   * binds the endpoint itself and serves it whenever the daemon exits without having written its
   * lockfile, so "the service is always reachable". After a failed hand-off it serves a socket no
   * launcher waits on, and keeps the JVM alive doing it.
   */
  public static final class FallbackListener {
    public static void main(String[] args) {
      Path runtime = Path.of(System.getenv("FASTBIND_RUNTIME_DIR"));
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        if (Files.exists(runtime.resolve("fallback.lock"), LinkOption.NOFOLLOW_LINKS)) {
          return; // the daemon ran: nothing to fall back from
        }
        try {
          IpcListener own = IpcListener.bind(Endpoint.unixPath(runtime.resolve("fallback.sock")));
          while (true) {
            own.accept().close();
          }
        } catch (IOException e) {
          // the fallback failed too
        }
      }, "fallback-listener"));
      Daemon.builder("fallback", new GoodBackend()).version("1.0").run(args);
    }
  }

  /**
   * Rule 403: serves each connection on a thread of its own, and treats its listener closing as the
   * end of everything: the accept loop halts the JVM at once ("nothing left to serve", and a halt
   * cannot hang in a shutdown hook). When the listener is handed to a successor, that cuts off the
   * requests its threads are still serving. ({@code System.exit} there would do no harm: it waits
   * while the shutdown hooks, which drain, still run.)
   */
  public static final class HaltsWhenListenerCloses implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      GoodBackend.InFlight inFlight = new GoodBackend.InFlight();
      context.onShutdown(() -> inFlight.awaitNone(java.util.concurrent.TimeUnit.SECONDS.toNanos(10)));
      context.ready();
      while (true) {
        SocketChannel c;
        try {
          c = listener.accept();
        } catch (IOException listenerClosed) {
          Runtime.getRuntime().halt(0);
          throw listenerClosed;
        }
        inFlight.begin();
        Thread t = new Thread(() -> GoodBackend.serveOne(c, inFlight), "halting-connection");
        t.setDaemon(true);
        t.start();
      }
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        Daemon.builder("halter", new HaltsWhenListenerCloses()).version("1.0").run(args);
      }
    }
  }
}
