package dev.fastbind.backend.testing;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.io.IOException;

/**
 * A real daemon that serves its listener with Netty, the transport chosen by its argument
 * {@code transport=nio} or {@code transport=epoll} (default epoll): {@link NettyServers} answers
 * each read with the transport's name and the bytes read. On shutdown it closes the listener before
 * Netty, the order the README gives.
 */
public final class NettyEchoDaemon implements BrokeredBackend {

  public static void main(String[] args) {
    Daemon.builder("netty", new NettyEchoDaemon()).version("1.0").run(args);
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    NettyServers.Transport transport = NettyServers.Transport.EPOLL;
    for (String arg : context.arguments()) {
      if (arg.startsWith("transport=")) {
        transport = NettyServers.Transport.valueOf(arg.substring("transport=".length()).toUpperCase(java.util.Locale.ROOT));
      }
    }
    NettyServers.Server server = NettyServers.serve(listener, transport);
    context.onShutdown(() -> {
      try {
        listener.close();
      } catch (IOException e) {
        System.err.println("closing the listener failed: " + e);
      }
      server.close();
    });
    context.ready();
    System.err.println("serving with Netty " + transport.prefix() + " on " + listener.endpoint()
        + (listener.isInherited() ? " (inherited)" : ""));
    server.channel().closeFuture().sync();
    throw new IllegalStateException("the Netty server channel closed");
  }
}
