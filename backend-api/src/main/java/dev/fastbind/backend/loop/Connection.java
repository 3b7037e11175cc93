package dev.fastbind.backend.loop;

import dev.fastbind.backend.internal.PeerCredentials;
import dev.fastbind.backend.internal.wire.LoopFrames;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * One accepted connection of a {@link RequestLoop} and the thread that serves it.
 *
 * <p><b>Who reads.</b> Exactly one thread reads the connection at a time, with blocking reads: at
 * first the connection's own thread, which reads a request, takes it through admission, runs the
 * handler itself and writes the answer, then reads again. While it is away from the socket (waiting
 * for a slot, held in warm-up, running the handler) nobody reads, so a client that leaves is not
 * noticed; when it has been away {@link RequestLoop#AWAY_NANOS} the loop's watch thread sends a
 * helper to read in its place ({@link #sendHelperIfAway}). What the helper reads decides: the end of
 * the stream closes the connection and cancels the request; a request (pipelined) or a bad frame is
 * left for the busy thread to answer after the one in flight; and if the busy thread has finished in
 * the meantime, the helper simply becomes the connection's thread.
 *
 * <p><b>Who writes.</b> Only the thread that owns the request being answered, or, on an idle
 * connection, the one that {@linkplain #claimIfIdle claimed} it for a refusal: never two at once.
 *
 * <p>Lock order: this object, then the loop's lock; never the other way round.
 */
final class Connection implements Runnable {
  final RequestLoop loop;
  final SocketChannel channel;
  final long id;

  /** The frame header being read; used by the one thread that reads at the time. */
  private final ByteBuffer header = ByteBuffer.allocate(LoopFrames.HEADER_BYTES);

  /** Read without the lock by a request waiting for a slot (which holds the loop's lock). */
  private volatile boolean closed;
  // Guarded by this:
  /** A request of this connection is received and not yet answered. */
  private boolean busy;
  /** Since when the busy thread has been away from the socket with nobody reading in its place. */
  private long awaySinceNanos;
  /** A helper reads while the request in flight is being answered. */
  private boolean helperReading;
  /** What a helper read while busy: the next request (byte[]) or a final answer (ByteBuffer). */
  private Object pending;
  /** Claimed for a refusal while idle: the claimer writes and closes; readers drop what they read. */
  private boolean claimed;
  private boolean cancelled;
  /** The thread running the handler, to interrupt if the client goes. */
  private Thread worker;
  private long[] credentials;

  Connection(RequestLoop loop, SocketChannel channel, long id) {
    this.loop = loop;
    this.channel = channel;
    this.id = id;
  }

  /** The connection's thread (and a helper's): read and serve until the connection ends or another thread reads. */
  @Override
  public void run() {
    try {
      while (true) {
        Object frame = readFrame();
        synchronized (this) {
          if (closed || claimed) {
            return;
          }
          helperReading = false;
          if (frame != null && busy) {
            pending = frame; // a helper's read: answered after the request in flight, by its thread
            return;
          }
          if (frame instanceof byte[]) {
            busy = true;
            awaySinceNanos = System.nanoTime();
          } else if (frame != null) {
            claimed = true; // a final answer: this thread writes it and closes, no refusal on top
          }
        }
        if (frame == null) {
          close();
          return;
        }
        if (frame instanceof ByteBuffer) {
          sendAndClose((ByteBuffer) frame);
          return;
        }
        if (!serveFrom((byte[]) frame)) {
          return;
        }
      }
    } catch (RuntimeException | Error e) {
      close();
      throw e;
    }
  }

  /**
   * Answers {@code request} and whatever a helper read meanwhile; true if this thread should read
   * on, false if the connection is closed or another thread reads it now.
   */
  private boolean serveFrom(byte[] request) {
    loop.watchAway();
    while (true) {
      loop.serve(this, request);
      Object next;
      synchronized (this) {
        if (closed) {
          return false;
        }
        next = pending;
        pending = null;
        if (next == null && !loop.isRunning()) {
          next = loop.refusedFrame(); // draining: nothing more runs on this connection
        }
        if (next instanceof ByteBuffer) {
          claimed = true; // this thread writes the last frame and closes; a helper drops what it reads
        } else if (next instanceof byte[]) {
          awaySinceNanos = System.nanoTime();
        } else {
          busy = false;
          if (helperReading) {
            return false; // the helper is the reader now; it takes up what it reads
          }
          return true;
        }
      }
      if (next instanceof ByteBuffer) {
        sendAndClose((ByteBuffer) next);
        return false;
      }
      request = (byte[]) next;
      loop.watchAway();
    }
  }

  /** The next frame: a request's payload, a final answer to a bad frame, or null when the client is gone. */
  private Object readFrame() {
    try {
      header.clear();
      if (!readFully(header)) {
        return null;
      }
      byte kind = LoopFrames.kind(header);
      long length = LoopFrames.payloadLength(header);
      if (kind != LoopFrames.REQUEST) {
        return LoopFrames.text(LoopFrames.MALFORMED, "expected a REQUEST frame (kind 0x01) but got kind "
            + LoopFrames.kindName(kind) + "; this daemon speaks the fastbind request loop protocol "
            + LoopFrames.VERSION + " (docs/wire.md)");
      }
      int max = loop.maxPayloadBytes();
      if (length > max) {
        return LoopFrames.tooLarge(max, "the request announces " + length + " bytes but this daemon reads at most "
            + max + " (RequestLoop.Builder.maxPayloadBytes); its payload was not read and the connection is closed:"
            + " send smaller requests");
      }
      ByteBuffer body = ByteBuffer.allocate((int) length);
      return readFully(body) ? body.array() : null;
    } catch (IOException e) {
      return null; // reset, or closed under us (drain, end, a cancel): the connection is over either way
    }
  }

  private boolean readFully(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (channel.read(b) < 0) {
        return false;
      }
    }
    return true;
  }

  // ---- the request in flight ----------------------------------------------------------------

  /** The handler is about to run on this thread; false if the client is gone. */
  synchronized boolean startRunning() {
    if (closed || cancelled) {
      return false;
    }
    worker = Thread.currentThread();
    return true;
  }

  /** The handler returned; an interrupt a cancel sent ends with it. */
  void stopRunning() {
    synchronized (this) {
      worker = null;
    }
    Thread.interrupted(); // the thread reads this connection next: a cancel's interrupt must not carry over
  }

  synchronized boolean isCancelled() {
    return cancelled;
  }

  boolean isClosed() {
    return closed;
  }

  /** The peer's pid and uid, read from the kernel on first use. */
  synchronized long[] credentials() {
    if (credentials == null) {
      credentials = PeerCredentials.of(channel);
    }
    return credentials;
  }

  /**
   * When the watch thread should send a helper: the moment the busy thread has been away for
   * {@code awayNanos}, or {@code Long.MAX_VALUE} if nothing is away unwatched.
   */
  synchronized long helperDue(long awayNanos) {
    return busy && !helperReading && pending == null && !closed && !claimed ? awaySinceNanos + awayNanos : Long.MAX_VALUE;
  }

  /** Sends a helper to read in the busy thread's place, if it is still away. Watch thread. */
  void sendHelperIfAway(long awayNanos, long now) {
    synchronized (this) {
      if (!busy || helperReading || pending != null || closed || claimed || now - (awaySinceNanos + awayNanos) < 0) {
        return;
      }
      helperReading = true;
    }
    if (loop.runOnNewThread(this)) {
      loop.helperSent();
    } else {
      synchronized (this) {
        helperReading = false;
      }
    }
  }

  // ---- writing and closing ------------------------------------------------------------------

  /** Writes {@code frame} whole; false (and the connection closed) if the client is gone. */
  boolean send(ByteBuffer frame) {
    try {
      while (frame.hasRemaining()) {
        channel.write(frame);
      }
      return true;
    } catch (IOException e) {
      close(); // the peer is gone; whatever runs for it is cancelled
      return false;
    }
  }

  /** Sends {@code frame}, then closes: the answers after which the protocol closes. */
  void sendAndClose(ByteBuffer frame) {
    if (!closed) {
      send(frame);
    }
    close();
  }

  /** A connection accepted after the drain began: only the acceptor writes (its refusal); false if gone or claimed. */
  synchronized boolean claimForRefusal() {
    if (closed || claimed) {
      return false;
    }
    claimed = true;
    return true;
  }

  /**
   * After an unasked refusal: reads (and drops) the first frame before closing, so that a request
   * the client is sending meanwhile is not met by a closed socket. Ends at the loop's end at the
   * latest. Its own thread.
   */
  void awaitFirstFrameAndClose() {
    readFrame();
    close();
  }

  /** Takes an idle connection for a refusal; false if it is busy or gone. */
  synchronized boolean claimIfIdle() {
    if (busy || closed || claimed) {
      return false;
    }
    claimed = true;
    return true;
  }

  /** Closes the connection; a request in flight for it is cancelled and its handler interrupted. Idempotent. */
  void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      if (busy) {
        cancelled = true;
        if (worker != null) {
          worker.interrupt();
        }
      }
    }
    RequestLoop.closeQuietly(channel); // a thread blocked reading it wakes
    loop.closed(this);
  }
}
