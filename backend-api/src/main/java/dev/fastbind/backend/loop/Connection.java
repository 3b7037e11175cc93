package dev.fastbind.backend.loop;

import dev.fastbind.backend.internal.PeerCredentials;
import dev.fastbind.backend.internal.wire.LoopFrames;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;

/**
 * One accepted connection of a {@link RequestLoop}: its reading state (I/O thread only), and what
 * several threads share under this object's lock: whether a request is in flight, what the client
 * sent after it, the frames not yet written, and the handler thread to interrupt if the client goes.
 *
 * <p>Lock order: this object, then the loop's lock; never the other way round.
 */
final class Connection {
  final RequestLoop loop;
  final SocketChannel channel;
  final long id;
  /** Set once by the I/O thread right after registration. */
  volatile SelectionKey key;

  /** The frame being read: its header, then its payload. I/O thread only. */
  final ByteBuffer header = ByteBuffer.allocate(LoopFrames.HEADER_BYTES);
  ByteBuffer body;

  private boolean busy;
  private boolean reading = true;
  private boolean closeAfterFlush;
  private boolean closed;
  private boolean cancelled;
  private boolean running;
  private Thread worker;
  /** What the client sent while busy: a request (byte[]) or a final reply to its bad frame (ByteBuffer). */
  private Object pending;
  private final ArrayDeque<ByteBuffer> out = new ArrayDeque<>();
  private long[] credentials;

  Connection(RequestLoop loop, SocketChannel channel, long id) {
    this.loop = loop;
    this.channel = channel;
    this.id = id;
  }

  /** A whole request arrived (I/O thread). Returns whether the I/O thread should read on. */
  boolean received(byte[] request) {
    synchronized (this) {
      if (closed || closeAfterFlush) {
        return false;
      }
      if (busy) {
        pending = request; // answered after the one in flight, in order
        reading = false;
        updateInterest();
        return false;
      }
      busy = true;
    }
    loop.start(this, request);
    synchronized (this) {
      return reading && !closed;
    }
  }

  /** A malformed or oversized frame: answer {@code frame} (after the request in flight) and close. I/O thread. */
  void finalFrame(ByteBuffer frame) {
    synchronized (this) {
      reading = false;
      if (busy && pending == null) {
        pending = frame;
        updateInterest();
        return;
      }
    }
    sendAndClose(frame);
  }

  /** The request in flight is over: what the client sent next, or null; busy again if it is a request. */
  synchronized Object nextAfterRequest() {
    Object next = pending;
    pending = null;
    busy = next instanceof byte[];
    return next;
  }

  /** Reads again after a held request was taken up. */
  void resumeReading() {
    synchronized (this) {
      if (closed || closeAfterFlush) {
        return;
      }
      reading = true;
      updateInterest();
    }
  }

  /** A handler thread is about to run this connection's request; false if the client is gone. */
  synchronized boolean startRunning() {
    if (closed || cancelled) {
      return false;
    }
    running = true;
    worker = Thread.currentThread();
    return true;
  }

  /** The handler returned; an interrupt a cancel sent ends with it. */
  void stopRunning() {
    synchronized (this) {
      running = false;
      worker = null;
    }
    Thread.interrupted(); // a pooled thread must not carry a cancel's interrupt into the next request
  }

  synchronized boolean isCancelled() {
    return cancelled;
  }

  /** The peer's pid and uid, read from the kernel on first use. */
  synchronized long[] credentials() {
    if (credentials == null) {
      credentials = PeerCredentials.of(channel);
    }
    return credentials;
  }

  /** At drain: a connection with nothing running gets {@code refusal} and is closed. I/O thread. */
  void refuseIfIdle(ByteBuffer refusal) {
    synchronized (this) {
      if (busy || closed) {
        return;
      }
    }
    sendAndClose(refusal);
  }

  /** Queues {@code frame} and writes what the socket takes now; the I/O thread writes the rest. Any thread. */
  void send(ByteBuffer frame) {
    synchronized (this) {
      if (closed) {
        return;
      }
      out.add(frame);
      if (out.size() == 1) {
        flushLocked();
      }
      afterWrite();
    }
  }

  /** Sends {@code frame}, reads nothing more, and closes once it is written. */
  void sendAndClose(ByteBuffer frame) {
    synchronized (this) {
      closeAfterFlush = true;
      reading = false;
      send(frame);
    }
  }

  /** The socket can take more (I/O thread). */
  void flush() {
    synchronized (this) {
      if (closed) {
        return;
      }
      flushLocked();
      afterWrite();
    }
  }

  private void afterWrite() {
    if (closed) {
      return;
    }
    if (out.isEmpty() && closeAfterFlush) {
      close();
    } else if (!out.isEmpty() || closeAfterFlush) {
      updateInterest();
    }
  }

  private void flushLocked() {
    try {
      while (!out.isEmpty()) {
        ByteBuffer b = out.peek();
        channel.write(b);
        if (b.hasRemaining()) {
          return;
        }
        out.poll();
      }
    } catch (IOException e) {
      close(); // the peer is gone; whatever runs for it is cancelled
    }
  }

  /** End of stream or a failed read: the client is gone, and so is any reason to run its request. */
  void peerClosed() {
    close();
  }

  /** Closes the connection; a request running for it is cancelled and its thread interrupted. Idempotent. */
  void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      if (busy) {
        cancelled = true;
        if (running && worker != null) {
          worker.interrupt();
        }
      }
      out.clear();
      SelectionKey k = key;
      if (k != null) {
        k.cancel();
      }
      RequestLoop.closeQuietly(channel);
    }
    loop.closed(this);
  }

  private void updateInterest() {
    SelectionKey k = key;
    if (k == null || !k.isValid()) {
      return;
    }
    try {
      k.interestOps((reading ? SelectionKey.OP_READ : 0) | (out.isEmpty() ? 0 : SelectionKey.OP_WRITE));
    } catch (CancelledKeyException e) {
      return;
    }
    loop.wakeIo();
  }
}
