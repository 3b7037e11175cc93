package dev.fastbind.examples.hello;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The smallest real daemon: it binds at once, "warms up" for a moment (standing in for loading a
 * cache index), then answers each line a client sends with a greeting and a request count.
 *
 * <p>Note what the class does not have: fields. {@code bind} is the interface's default (just
 * {@code IpcListener.bind(endpoint)}); all state — the counter, the thread pool — is created inside
 * {@code serve}, after the endpoint exists and the broker has been told so.
 */
public final class HelloBackend implements BrokeredBackend {

  /** The service name launchers use to find this daemon. */
  public static final String SERVICE = "hello";
  /** The daemon's version, recorded in its lockfile. */
  public static final String VERSION = "1.0.0";

  /** How long a stopping daemon lets the connections it accepted finish. */
  private static final int DRAIN_SECONDS = 4;

  /** Daemon entry point; the broker starts it with this class as the main class. */
  public static void main(String[] args) {
    Daemon.builder(SERVICE, new HelloBackend()).version(VERSION).run(args);
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    long warmMillis = Long.getLong("hello.warm-ms", 300);
    for (int step = 1; step <= 10; step++) {
      Thread.sleep(warmMillis / 10); // stands in for real warm-up work
      context.progress(step * 10, "warming caches");
    }
    AtomicLong served = new AtomicLong();
    ExecutorService workers = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "hello-connection");
      t.setDaemon(true);
      return t;
    });
    // Drain on stop and on a replacement: the SDK has closed the listener by now (or hands it to the
    // successor), so no new connection comes; let the ones accepted finish, for a few seconds at most.
    // shutdownNow would interrupt them, and an interrupted read closes the client's connection.
    context.onShutdown(() -> drain(workers));
    context.ready();
    while (true) {
      SocketChannel connection = listener.accept();
      workers.execute(() -> answer(connection, served, context));
    }
  }

  private static void drain(ExecutorService workers) {
    workers.shutdown();
    try {
      if (!workers.awaitTermination(DRAIN_SECONDS, TimeUnit.SECONDS)) {
        workers.shutdownNow();
      }
    } catch (InterruptedException e) {
      workers.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  private static void answer(SocketChannel connection, AtomicLong served, ServeContext context) {
    try (connection;
        BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(connection),
            StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(Channels.newOutputStream(connection), true, StandardCharsets.UTF_8)) {
      String line;
      while ((line = in.readLine()) != null) {
        out.println("hello, " + line + " (request " + served.incrementAndGet() + " served by pid "
            + ProcessHandle.current().pid() + ", instance " + context.instanceId().substring(0, 8) + ")");
      }
    } catch (IOException e) {
      // the client went away; nothing to do
    }
  }
}
