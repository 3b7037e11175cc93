package dev.fastbind.backend.testing;

import dev.fastbind.backend.IpcListener;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioChannelOption;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * Real Netty servers on a fastbind listener, written as the README's "Serving with Netty" shows
 * them: NIO on {@link IpcListener#channel()}, epoll on {@link IpcListener#duplicateDescriptor()},
 * each child channel passed through the listener's peer check before any handler sees it. Each
 * answers whatever it reads with {@code PREFIX:} and the bytes read, the prefix naming the transport.
 */
public final class NettyServers {
  private NettyServers() {}

  /** Which Netty transport serves. */
  public enum Transport {
    NIO, EPOLL;

    /** The word the server puts before its echo: "nio" or "epoll". */
    public String prefix() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** A running server: its event loops and its server channel. Closing shuts both down. */
  public record Server(EventLoopGroup group, Channel channel) implements AutoCloseable {
    @Override
    public void close() {
      group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  /** Serves {@code listener} with {@code transport}, with one event loop thread. */
  public static Server serve(IpcListener listener, Transport transport) throws IOException, InterruptedException {
    return transport == Transport.NIO ? nio(listener) : epoll(listener);
  }

  /** Netty NIO on the listener's channel; the peer check reads the peer's user through SO_PEERCRED. */
  public static Server nio(IpcListener listener) throws InterruptedException {
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    ChannelFactory<ServerChannel> factory = () -> new NioServerDomainSocketChannel(listener.channel());
    ServerBootstrap bootstrap = new ServerBootstrap()
        .group(group)
        .channelFactory(factory)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            UnixDomainPrincipal peer = ch.config().getOption(NioChannelOption.of(ExtendedSocketOptions.SO_PEERCRED));
            if (peer == null || !listener.admit(peer.user())) {
              ch.close();
              return;
            }
            ch.pipeline().addLast(new Echo("nio"));
          }
        });
    // register, not bind: the listener is bound and listening already
    return new Server(group, bootstrap.register().sync().channel());
  }

  /** Netty epoll on a duplicate of the listener's descriptor; the peer check takes the peer's uid. */
  public static Server epoll(IpcListener listener) throws IOException, InterruptedException {
    if (!Epoll.isAvailable()) {
      throw new AssertionError("Netty's epoll transport is not available here", Epoll.unavailabilityCause());
    }
    int fd = listener.duplicateDescriptor();
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    ChannelFactory<ServerChannel> factory = () -> new EpollServerDomainSocketChannel(fd, true);
    ServerBootstrap bootstrap = new ServerBootstrap()
        .group(group)
        .channelFactory(factory)
        .childHandler(new ChannelInitializer<EpollDomainSocketChannel>() {
          @Override
          protected void initChannel(EpollDomainSocketChannel ch) throws IOException {
            if (!listener.admitUid(ch.peerCredentials().uid())) {
              ch.close();
              return;
            }
            ch.pipeline().addLast(new Echo("epoll"));
          }
        });
    return new Server(group, bootstrap.register().sync().channel());
  }

  /** Answers each read with {@code prefix:} and the bytes read. */
  @ChannelHandler.Sharable
  static final class Echo extends ChannelInboundHandlerAdapter {
    private final byte[] prefix;

    Echo(String prefix) {
      this.prefix = (prefix + ":").getBytes(StandardCharsets.US_ASCII);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ctx.write(Unpooled.wrappedBuffer(prefix));
      ctx.writeAndFlush((ByteBuf) msg);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
