package dev.fastbind.benchmarks;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.loop.Handler;
import dev.fastbind.backend.loop.RequestContext;
import dev.fastbind.backend.loop.RequestLoop;

/**
 * The SDK daemon of {@link ClientStart}: the SDK's {@link Daemon} bootstrap and a {@link RequestLoop}
 * with defaults and an echo handler, nothing else. The launcher rows call it through
 * {@link ClientLauncher} and {@link RawLauncher}; the memory rows read its resident set when idle
 * beside {@link BareDaemon}'s.
 *
 * <p>Bounded lifetime: {@code --lifetime=<seconds>} (default 600) halts the JVM. The watchdog and the
 * handler are classes, not lambdas, as in {@link BareDaemon}, so neither side pays the lambda
 * machinery for the harness's sake.
 */
public final class LaunchDaemon implements BrokeredBackend {

  private LaunchDaemon() {}

  /** Runs the daemon; never returns. */
  public static void main(String[] args) {
    Thread watchdog = new BareDaemon.Lifetime(BareDaemon.lifetimeMillis(args));
    watchdog.setDaemon(true);
    watchdog.start();
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), new LaunchDaemon()).version("1.0").run(args);
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    return RequestLoop.builder().serve(listener, context, new Echo());
  }

  /** The handler: the request is the answer. */
  private static final class Echo implements Handler {
    @Override
    public byte[] handle(byte[] request, RequestContext context) {
      return request;
    }
  }
}
