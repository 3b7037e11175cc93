package dev.fastbind.conformance.backends;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.io.IOException;
import java.net.InetAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Deliberately broken backends, one per rule, each breaking the contract the way real daemons do.
 * The self-tests run the kit against each and expect exactly its rule to fail.
 */
public final class Broken {

  private Broken() {}

  /** Serves like {@link GoodBackend}; the broken backends share it so only their bind differs. */
  static Never serveForever(IpcListener listener, ServeContext context) throws IOException {
    context.ready();
    while (true) {
      listener.accept().close();
    }
  }

  /** Rule 101: checks a configuration file, in a lambda inside a private helper. */
  public static final class ReadsFileInBind implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      configured(endpoint);
      return IpcListener.bind(endpoint);
    }

    private static boolean configured(Endpoint endpoint) {
      return Optional.of(endpoint).filter(e -> Files.exists(Path.of("/etc/daemon.conf"))).isPresent();
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 102: "waits a moment" before binding. */
  public static final class SleepsInBind implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      try {
        TimeUnit.MILLISECONDS.sleep(1);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return IpcListener.bind(endpoint);
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 103: starts warm-up on a thread from bind. */
  public static final class StartsThreadInBind implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      Thread warmer = new Thread(() -> { });
      warmer.setDaemon(true);
      warmer.start();
      return IpcListener.bind(endpoint);
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 104: resolves a host name in bind. */
  public static final class ConnectsInBind implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      try {
        InetAddress.getByName("localhost");
      } catch (IOException e) {
        throw new BindException.Other(endpoint.toString(), "no network", e);
      }
      return IpcListener.bind(endpoint);
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 105: counts binds in a static field. */
  public static final class TouchesStaticStateInBind implements BrokeredBackend {
    private static int binds;

    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      binds++;
      return IpcListener.bind(endpoint);
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 106: keeps a flag in an instance field. */
  public static final class KeepsInstanceField implements BrokeredBackend {
    private volatile boolean warmed;

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      warmed = true;
      return serveForever(listener, context);
    }
  }

  /** Rule 107: looks at the environment in its constructor. */
  public static final class NontrivialConstructor implements BrokeredBackend {
    public NontrivialConstructor() {
      System.getenv("HOME");
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 201: computes something expensive in bind (a busy loop the static rules cannot see). */
  public static final class SlowBind implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      long until = System.nanoTime() + 150_000_000L;
      long spins = 0;
      while (System.nanoTime() < until) {
        spins++;
      }
      if (spins < 0) {
        throw new BindException.Other(endpoint.toString(), "impossible", new IllegalStateException());
      }
      return IpcListener.bind(endpoint);
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 202: binds a derived path instead of the endpoint it was given. */
  public static final class BindsElsewhere implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      return IpcListener.bind(endpoint.withSuffix(".v2"));
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 204: reports every failure as an I/O error. */
  public static final class WrapsFailures implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      try {
        return IpcListener.bind(endpoint);
      } catch (BindException.InvalidEndpoint e) {
        throw new BindException.Io(endpoint.toString(), "bind failed", new IOException(e));
      }
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 205: binds with a bare JDK channel, which does not reclaim a dead socket file. */
  public static final class NoReclaim implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      Path path = endpoint.path().orElseThrow();
      try {
        ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
          channel.bind(UnixDomainSocketAddress.of(path));
        } catch (java.net.BindException inUse) {
          channel.close();
          throw new BindException.AlreadyBound(endpoint.toString(), -1);
        }
        return new BareListener(endpoint, channel);
      } catch (IOException e) {
        if (e instanceof BindException be) {
          throw be;
        }
        throw new BindException.Io(endpoint.toString(), "bind failed", e);
      }
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }
  }

  /** Rule 206: binds an auxiliary admin socket first and leaks it when the main bind fails. */
  public static final class LeaksOnFailedBind implements BrokeredBackend {
    @Override
    public IpcListener bind(Endpoint endpoint) throws BindException {
      IpcListener admin = IpcListener.bind(endpoint.withSuffix(".admin"));
      return IpcListener.bind(endpoint);
    }

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws Exception {
      return serveForever(listener, context);
    }

    /** Runs the daemon. */
    public static final class Main {
      public static void main(String[] args) {
        Daemon.builder("leaky", new LeaksOnFailedBind()).version("1.0").run(args);
      }
    }
  }

  /** A listener over a bare JDK channel: closing it leaves the socket file, as the JDK does. */
  static final class BareListener implements IpcListener {
    private final Endpoint endpoint;
    private final ServerSocketChannel channel;

    BareListener(Endpoint endpoint, ServerSocketChannel channel) {
      this.endpoint = endpoint;
      this.channel = channel;
    }

    @Override
    public Endpoint endpoint() {
      return endpoint;
    }

    @Override
    public SocketChannel accept() throws IOException {
      return channel.accept();
    }

    @Override
    public ServerSocketChannel channel() {
      return channel;
    }

    @Override
    public int duplicateDescriptor() {
      throw new UnsupportedOperationException("a bare listener has no descriptor to give");
    }

    // No peer check at all, like its accept: this listener is broken only in how it closes.
    @Override
    public boolean admit(SocketChannel connection) {
      return true;
    }

    @Override
    public boolean admit(java.nio.file.attribute.UserPrincipal peer) {
      return true;
    }

    @Override
    public boolean admitUid(long uid) {
      return true;
    }

    @Override
    public long rejectedPeers() {
      return 0;
    }

    @Override
    public boolean isInherited() {
      return false;
    }

    @Override
    public boolean isOpen() {
      return channel.isOpen();
    }

    @Override
    public void close() throws IOException {
      channel.close();
    }
  }
}
