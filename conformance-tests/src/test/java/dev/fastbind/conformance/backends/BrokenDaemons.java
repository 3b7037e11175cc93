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
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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

  /**
   * Rule 305: a home-made singleton guard. {@code main} creates {@code pidfile.pid} in the runtime
   * directory with {@code O_EXCL} and refuses to start while it exists; a shutdown hook removes it, so
   * a clean stop or a failed bind leaves nothing. {@code kill -9} runs no hook: the file stays, and
   * every later start exits with status 1 ("another instance is running"). A pid file needs a
   * liveness check (or an advisory lock that dies with the process), never existence alone.
   */
  public static final class StalePidFile {
    public static void main(String[] args) throws IOException {
      Path pidFile = runtimeDirectory().resolve("pidfile.pid");
      try {
        Files.writeString(pidFile, ProcessHandle.current().pid() + "\n", StandardCharsets.US_ASCII,
            StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      } catch (FileAlreadyExistsException e) {
        System.err.println("pidfile: another instance is running (" + pidFile + " names pid "
            + Files.readString(pidFile, StandardCharsets.US_ASCII).trim() + "); not starting");
        System.exit(1);
        return;
      }
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          Files.deleteIfExists(pidFile);
        } catch (IOException ignored) {
          // exiting anyway
        }
      }));
      Daemon.builder("pidfile", new GoodBackend()).version("1.0").run(args);
    }
  }

  /**
   * Rule 306: "clears stale locks a crashed instance left" before starting, by deleting every regular
   * file in the runtime directory whose name ends in {@code lock}. That matches the broker's
   * {@code tidy.spawn-lock}, which the spawning launcher holds at that moment: launcher processes that
   * come later lock a new file and no longer exclude each other, so two of them can each spawn a
   * daemon. (Threads of one JVM share the broker's open lock file, so the rule checks that the file is
   * still there.)
   */
  public static final class ClearsStaleLocks {
    public static void main(String[] args) throws IOException {
      try (DirectoryStream<Path> locks = Files.newDirectoryStream(runtimeDirectory(), "*lock")) {
        for (Path lock : locks) {
          if (Files.isRegularFile(lock, LinkOption.NOFOLLOW_LINKS)) {
            Files.delete(lock);
          }
        }
      }
      Daemon.builder("tidy", new GoodBackend()).version("1.0").run(args);
    }
  }

  /**
   * Rule 307: reads its index file for every request and lets the {@code IOException} escape
   * {@code serve}. Fine until the daemon runs out of descriptors: then the first request that cannot
   * open the file ("Too many open files") ends the daemon and its warm state, instead of costing that
   * one request.
   */
  public static final class OpensFilePerRequest implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      Path index = Path.of(System.getProperty("java.home"), "release"); // stands in for its cache index
      context.ready();
      while (true) {
        try (SocketChannel c = listener.accept()) {
          byte[] entry = Files.readAllBytes(index); // the bug: its IOException ends serve
          try {
            c.write(java.nio.ByteBuffer.wrap(entry, 0, Math.min(entry.length, 16)));
          } catch (IOException clientWentAway) {
            // a probe that hung up: fine
          }
        }
      }
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        Daemon.builder("perfile", new OpensFilePerRequest()).version("1.0").run(args);
      }
    }
  }

  /** Where the broker told the daemon its runtime directory is ({@code FASTBIND_RUNTIME_DIR}). */
  private static Path runtimeDirectory() {
    String dir = System.getenv("FASTBIND_RUNTIME_DIR");
    if (dir == null || dir.isEmpty()) {
      throw new IllegalStateException("FASTBIND_RUNTIME_DIR is not set; start this daemon through the broker");
    }
    return Path.of(dir);
  }
}
