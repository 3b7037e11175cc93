package dev.fastbind.conformance.backends;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.nio.channels.SocketChannel;

/** A backend that keeps the contract: default bind, state created in serve, serve loops forever. */
public final class GoodBackend implements BrokeredBackend {

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    StringBuilder state = new StringBuilder("warm");
    context.progress(50, "loading");
    context.ready();
    while (true) {
      try (SocketChannel c = listener.accept()) {
        state.setLength(4);
      }
    }
  }

  /** Runs the daemon. */
  public static final class Main {
    public static void main(String[] args) {
      Daemon.builder("good", new GoodBackend()).version("1.0").run(args);
    }
  }
}
