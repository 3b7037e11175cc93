package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.ControlFrames.Command;
import dev.fastbind.backend.internal.ControlFrames.Reply;
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

  /** Asks {@code HELLO} and returns the daemon's identity and warm-up state; see the class doc for errors. */
  public static HelloReply hello(Endpoint control, Duration timeout) throws IOException {
    Reply reply = request(control, Command.HELLO, timeout);
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
    request(control, Command.SHUTDOWN, timeout);
  }

  /**
   * Sends {@code command} and returns the {@code OK} reply.
   *
   * @throws ControlProtocolException if the reply is {@code ERR} or malformed
   */
  public static Reply request(Endpoint control, Command command, Duration timeout) throws IOException {
    Objects.requireNonNull(command, "command");
    Reply reply = exchange(control, command.name(), timeout);
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
    Objects.requireNonNull(control, "control");
    Objects.requireNonNull(requestPayload, "requestPayload");
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive, got " + timeout);
    }
    Call call = new Call(control, timeout);
    ByteBuf frame = ControlFrames.encodeFrame(requestPayload);
    try (SocketChannel channel = open(control);
        Selector selector = channel.provider().openSelector();
        ControlFrames.Decoder decoder = new ControlFrames.Decoder()) {
      channel.configureBlocking(false);
      SelectionKey key = channel.register(selector, 0);
      connect(call, channel, selector, key, address(control));
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

  private static SocketChannel open(Endpoint control) throws IOException {
    return switch (control.kind()) {
      case UNIX_PATH -> SocketChannel.open(StandardProtocolFamily.UNIX);
      case ABSTRACT -> AFUNIXSocketChannel.open();
    };
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
