package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.ControlFrames;
import dev.fastbind.backend.internal.wire.ControlProtocolException;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.ControlFrames.Command;
import dev.fastbind.backend.internal.wire.ControlFrames.Reply;
import io.netty.buffer.ByteBuf;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.AFUNIXSocketChannel;
import org.newsclub.net.unix.AFUNIXSocketCredentials;

/**
 * Talks to a daemon's control endpoint: what the broker (and tests) call.
 *
 * <p>Each call opens a connection, sends one request, reads one reply and closes. The whole call
 * (connect, write, read) is bounded by one monotonic deadline computed from {@code timeout} at the
 * start: the channel is non-blocking and every wait is a {@link Selector#select(long)} for the time
 * that remains. A daemon that is stopped ({@code SIGSTOP}) or hung still has its connection accepted
 * by the kernel but never answers; the call then fails with a {@link SocketTimeoutException} naming
 * the endpoint, the step it was waiting for and the elapsed time.
 *
 * <p>Path endpoints use JDK channels. Abstract endpoints use junixsocket's
 * {@link AFUNIXSocketChannel} (loaded only then, as its first use costs 100 ms or more).
 *
 * <p>Errors: {@link ConnectException} (nobody listens; names the endpoint),
 * {@link SocketTimeoutException} (deadline passed), {@link EOFException} (the daemon closed the
 * connection without a reply, e.g. because its connection cap was reached),
 * {@link ControlProtocolException} (malformed reply or an {@code ERR} reply),
 * {@link InterruptedIOException} (the calling thread was interrupted; its interrupt flag is set
 * again). Stateless and thread-safe.
 */
public final class ControlClient {

  private ControlClient() {}

  /**
   * Who is on the other side of a control connection, as the kernel reports it ({@code SO_PEERCRED}):
   * the process that called {@code listen()} on the control endpoint, which for the SDK's control
   * endpoint is always the daemon itself (it binds that endpoint on its own, even when its main
   * endpoint was inherited).
   *
   * @param pid the peer's process id
   * @param uid the peer's user id
   */
  public record Peer(long pid, long uid) {}

  /**
   * Decides, once the connection is accepted and before any byte is sent, whether the peer may be
   * talked to; throws {@link PeerMismatchException} when not.
   */
  @FunctionalInterface
  public interface PeerCheck {
    /** Throws if {@code peer} is not the expected daemon. */
    void check(Peer peer) throws PeerMismatchException;
  }

  /** The peer of a control connection is not the process the caller expected. */
  public static final class PeerMismatchException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Peer peer;

    /** Creates the error; {@code message} names the endpoint and both identities. */
    public PeerMismatchException(String message, Peer peer) {
      super(message);
      this.peer = peer;
    }

    /** Who answered instead. */
    public Peer peer() {
      return peer;
    }
  }

  /**
   * A check that the peer runs as this user and is process {@code pid}: what the broker requires
   * before it trusts a daemon's answer or asks it to shut down.
   */
  public static PeerCheck expecting(Endpoint control, long pid) {
    return peer -> {
      if (peer.uid() != ProcessIdentity.currentUid() || peer.pid() != pid) {
        throw new PeerMismatchException("control endpoint " + control + " is served by pid " + peer.pid() + " (uid "
            + peer.uid() + "), not by the recorded daemon (pid " + pid + ", uid " + ProcessIdentity.currentUid()
            + ")", peer);
      }
    };
  }

  /** Asks {@code HELLO} and returns the daemon's identity and warm-up state; see the class doc for errors. */
  public static HelloReply hello(Endpoint control, Duration timeout) throws IOException {
    return hello(control, timeout, null);
  }

  /**
   * Asks {@code HELLO} of a peer that passes {@code check} (null: any peer). The peer's credentials
   * are read through junixsocket, so the first such call in a JVM loads its native library.
   *
   * @throws PeerMismatchException if the peer fails {@code check}; nothing was sent
   */
  public static HelloReply hello(Endpoint control, Duration timeout, PeerCheck check) throws IOException {
    Reply reply = request(control, Command.HELLO, timeout, check);
    try {
      return HelloReply.fromFields(reply.fields());
    } catch (ControlProtocolException e) {
      throw new ControlProtocolException("control endpoint " + control + ": " + e.getMessage(), e);
    }
  }

  /** Asks {@code STATUS} and returns its fields in wire order; see the class doc for errors. */
  public static Map<String, String> status(Endpoint control, Duration timeout) throws IOException {
    return request(control, Command.STATUS, timeout).fields();
  }

  /**
   * Asks the daemon to stop and returns once it has acknowledged; the daemon stops after that, on
   * its own time. See the class doc for errors.
   */
  public static void shutdown(Endpoint control, Duration timeout) throws IOException {
    request(control, Command.SHUTDOWN, timeout, null);
  }

  /**
   * Asks a peer that passes {@code check} to stop; see {@link #shutdown(Endpoint, Duration)}.
   *
   * @throws PeerMismatchException if the peer fails {@code check}; nothing was sent
   */
  public static void shutdown(Endpoint control, Duration timeout, PeerCheck check) throws IOException {
    request(control, Command.SHUTDOWN, timeout, check);
  }

  /**
   * Asks a peer that passes {@code check} to hand its main listener over at {@code rendezvous}
   * ({@code HANDOVER}); returns once the daemon has begun (it then offers the listener there).
   *
   * @throws ControlProtocolException if the daemon answers {@code ERR}: it cannot hand over
   * @throws PeerMismatchException if the peer fails {@code check}; nothing was sent
   */
  public static void handover(Endpoint control, java.nio.file.Path rendezvous, Duration timeout, PeerCheck check)
      throws IOException {
    Reply reply = exchange(control, Command.HANDOVER.name() + " "
        + dev.fastbind.backend.internal.wire.Escaping.escape(rendezvous.toString(), " "), timeout, check);
    if (!reply.ok()) {
      throw new ControlProtocolException("control endpoint " + control + " answered HANDOVER with ERR: "
          + reply.error());
    }
  }

  /**
   * Sends {@code command} and returns the {@code OK} reply.
   *
   * @throws ControlProtocolException if the reply is {@code ERR} or malformed
   */
  public static Reply request(Endpoint control, Command command, Duration timeout) throws IOException {
    return request(control, command, timeout, null);
  }

  private static Reply request(Endpoint control, Command command, Duration timeout, PeerCheck check)
      throws IOException {
    Objects.requireNonNull(command, "command");
    Reply reply = exchange(control, command.name(), timeout, check);
    if (!reply.ok()) {
      throw new ControlProtocolException("control endpoint " + control + " answered " + command
          + " with ERR: " + reply.error());
    }
    return reply;
  }

  /**
   * Sends one raw request payload and returns whatever reply comes back, {@code OK} or {@code ERR}.
   * For tests and diagnostics; prefer the typed methods.
   */
  public static Reply exchange(Endpoint control, String requestPayload, Duration timeout) throws IOException {
    return exchange(control, requestPayload, timeout, null);
  }

  private static Reply exchange(Endpoint control, String requestPayload, Duration timeout, PeerCheck check)
      throws IOException {
    Objects.requireNonNull(control, "control");
    Objects.requireNonNull(requestPayload, "requestPayload");
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive, got " + timeout);
    }
    ByteBuf frame = ControlFrames.encodeFrame(requestPayload);
    try (SocketChannel channel = open(control, check != null);
        Selector selector = channel.provider().openSelector();
        ControlFrames.Decoder decoder = new ControlFrames.Decoder()) {
      // The deadline starts once the channel exists: loading junixsocket's native library on its first
      // use in a JVM (100 ms or more) is this process's cost, not the daemon's slowness.
      Call call = new Call(control, timeout);
      channel.configureBlocking(false);
      SelectionKey key = channel.register(selector, 0);
      connect(call, channel, selector, key, check != null ? junixAddress(control) : address(control));
      if (check != null) {
        check.check(peerOf(control, (AFUNIXSocketChannel) channel));
      }
      try {
        return converse(call, channel, selector, key, decoder, frame);
      } catch (InterruptedIOException | ClosedByInterruptException | EOFException | ControlProtocolException e) {
        throw e; // InterruptedIOException includes SocketTimeoutException
      } catch (IOException e) {
        // "Connection reset" or "Broken pipe": the daemon closed the connection (cap reached, stopping).
        EOFException eof = new EOFException("control endpoint " + control + " closed the connection without a reply ("
            + e.getMessage() + ") after " + call.elapsedMillis() + " ms (its connection cap may be reached, or it is"
            + " stopping)");
        eof.initCause(e);
        throw eof;
      }
    } finally {
      frame.release();
    }
  }

  private static Reply converse(Call call, SocketChannel channel, Selector selector, SelectionKey key,
      ControlFrames.Decoder decoder, ByteBuf frame) throws IOException {
    Endpoint control = call.endpoint;
    ByteBuffer out = frame.nioBuffer();
    while (out.hasRemaining()) {
      if (channel.write(out) == 0) {
        call.await(selector, key, SelectionKey.OP_WRITE, "sending the request");
      }
    }

    ByteBuffer in = ByteBuffer.allocate(4096);
    while (true) {
      in.clear();
      int n = channel.read(in);
      if (n < 0) {
        throw new EOFException("control endpoint " + control + " closed the connection without a complete reply"
            + " after " + call.elapsedMillis() + " ms (its connection cap may be reached, or it is stopping)");
      }
      if (n == 0) {
        call.await(selector, key, SelectionKey.OP_READ, "a reply");
        continue;
      }
      in.flip();
      decoder.feed(in);
      Optional<String> payload;
      try {
        payload = decoder.poll();
      } catch (ControlProtocolException e) {
        throw new ControlProtocolException("control endpoint " + control + " sent a malformed reply: "
            + e.getMessage(), e);
      }
      if (payload.isPresent()) {
        try {
          return Reply.parse(payload.get());
        } catch (ControlProtocolException e) {
          throw new ControlProtocolException("control endpoint " + control + " sent a malformed reply: "
              + e.getMessage(), e);
        }
      }
    }
  }

  private static void connect(Call call, SocketChannel channel, Selector selector, SelectionKey key,
      SocketAddress address) throws IOException {
    try {
      if (!channel.connect(address)) {
        call.await(selector, key, SelectionKey.OP_CONNECT, "the connection to be accepted");
        while (!channel.finishConnect()) {
          call.await(selector, key, SelectionKey.OP_CONNECT, "the connection to be accepted");
        }
      }
    } catch (InterruptedIOException | ClosedByInterruptException e) {
      throw e; // includes SocketTimeoutException
    } catch (IOException e) {
      ConnectException ce = new ConnectException("cannot connect to control endpoint " + call.endpoint
          + ": " + e.getMessage());
      ce.initCause(e);
      throw ce;
    }
  }

  private static SocketChannel open(Endpoint control, boolean needsPeer) throws IOException {
    if (needsPeer) {
      return AFUNIXSocketChannel.open();
    }
    return switch (control.kind()) {
      case UNIX_PATH -> SocketChannel.open(StandardProtocolFamily.UNIX);
      case ABSTRACT -> AFUNIXSocketChannel.open();
    };
  }

  private static SocketAddress junixAddress(Endpoint control) throws IOException {
    return switch (control.kind()) {
      case UNIX_PATH -> AFUNIXSocketAddress.of(control.path().orElseThrow());
      case ABSTRACT -> AFUNIXSocketAddress.inAbstractNamespace(control.abstractName().orElseThrow());
    };
  }

  private static Peer peerOf(Endpoint control, AFUNIXSocketChannel channel) throws IOException {
    AFUNIXSocketCredentials c = channel.getPeerCredentials();
    if (c == null || c.getPid() <= 0) {
      throw new PeerMismatchException("control endpoint " + control
          + ": the kernel did not report the peer's credentials, so it cannot be verified", new Peer(-1, -1));
    }
    return new Peer(c.getPid(), c.getUid());
  }

  private static SocketAddress address(Endpoint control) throws IOException {
    return switch (control.kind()) {
      case UNIX_PATH -> UnixDomainSocketAddress.of(control.path().orElseThrow());
      case ABSTRACT -> AFUNIXSocketAddress.inAbstractNamespace(control.abstractName().orElseThrow());
    };
  }

  /** One call's monotonic deadline. */
  private static final class Call {
    final Endpoint endpoint;
    final long startNanos = System.nanoTime();
    final long timeoutNanos;

    Call(Endpoint endpoint, Duration timeout) {
      this.endpoint = endpoint;
      this.timeoutNanos = saturatedNanos(timeout);
    }

    long elapsedMillis() {
      return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }

    /** Waits until {@code ops} is ready or the deadline passes; {@code what} names the awaited step. */
    void await(Selector selector, SelectionKey key, int ops, String what) throws IOException {
      key.interestOps(ops);
      try {
        while (true) {
          if (Thread.interrupted()) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for " + what + " from control endpoint "
                + endpoint + " after " + elapsedMillis() + " ms");
          }
          long remaining = timeoutNanos - (System.nanoTime() - startNanos); // overflow-safe difference
          if (remaining <= 0) {
            throw new SocketTimeoutException("no answer from control endpoint " + endpoint + " within "
                + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms (waited " + elapsedMillis() + " ms for "
                + what + "); the daemon may be stopped or hung");
          }
          // select(0) would wait forever: round up to at least 1 ms.
          long millis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining + 999_999));
          if (selector.select(millis) > 0 || selector.selectedKeys().contains(key)) {
            selector.selectedKeys().clear();
            return;
          }
        }
      } finally {
        if (key.isValid()) {
          key.interestOps(0);
        }
      }
    }

    private static long saturatedNanos(Duration d) {
      try {
        return d.toNanos();
      } catch (ArithmeticException e) {
        return Long.MAX_VALUE / 2;
      }
    }
  }
}
