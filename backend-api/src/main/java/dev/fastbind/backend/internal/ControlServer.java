package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.Escaping;
import dev.fastbind.backend.internal.wire.ControlFrames;
import dev.fastbind.backend.internal.wire.ControlProtocolException;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.wire.ControlFrames.Command;
import dev.fastbind.backend.internal.wire.ControlFrames.Reply;
import java.io.Closeable;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Serves the SDK's control endpoint ({@code HELLO}, {@code STATUS}, {@code SHUTDOWN}) on threads of
 * its own, independently of whatever the backend's {@code serve} is doing.
 *
 * <p><b>Use.</b> The bootstrap binds the control endpoint with {@link IpcListener#bind}, right after
 * the main endpoint, and calls {@link #start(IpcListener, ControlHandler, Options)}. The server owns
 * the listener from then on and closes it in {@link #close()}. Wire format: {@link ControlFrames}.
 *
 * <p><b>Threads</b> (all daemon threads, {@code <n>} numbers servers within the JVM):
 *
 * <ul>
 *   <li>{@code fastbind-control-<n>-accept}: blocks in {@link IpcListener#accept()} (which checks
 *       the peer's user and waits out descriptor exhaustion) and hands each connection to the I/O
 *       thread.
 *   <li>{@code fastbind-control-<n>-io}: started with the first connection; one selector over every
 *       open connection, non-blocking reads and writes. It answers each request the moment its last
 *       byte arrives: {@code HELLO} and {@code STATUS} are snapshots of volatile state
 *       ({@link ControlHandler} must not block), so answering costs microseconds and no thread.
 *       It also closes each connection at its absolute deadline ({@link Options#connectionDeadline()}
 *       after accept): the selector's timeout is the nearest deadline, no polling, no sleeps.
 *   <li>{@code fastbind-control-<n>-shutdown}: started once, on the first {@code SHUTDOWN}, to run
 *       {@link ControlHandler#shutdown()} after the {@code OK} reply was written.
 * </ul>
 *
 * <p><b>The cap, and what it never blocks.</b> {@link Options#maxConnections()} bounds how many
 * control connections are open at once, that is the descriptors and buffers peers can make the
 * daemon hold. It never blocks or refuses a request: a silent or trickling connection holds no
 * thread, only its descriptor until its deadline, and a fresh connection is always admitted. When
 * admitting it would pass the cap, the <em>oldest</em> open connection is closed to make room, after
 * whatever complete requests it had sent are answered and its unread bytes drained (so its peer sees
 * an end of stream, not a reset). The broker's {@code HELLO} and {@code STATUS} arrive with their
 * connection and are answered within one round of the selector, so however many silent, slow or
 * hostile same-user peers hold control connections, a healthy daemon answers the broker within its
 * deadline; overload costs the oldest connections, never the newest question.
 *
 * <p><b>Robustness.</b> A malformed frame (length prefix outside 1..{@value
 * ControlFrames#MAX_FRAME_BYTES}, invalid UTF-8) closes that connection. An unknown command is
 * answered {@code ERR unknown command '…'} and the connection stays usable. A connection lives at
 * most its deadline, whatever it does: clients send a request or two and close. A peer that sends
 * requests without reading the replies is not read from until its replies are written. A handler
 * that throws gets an {@code ERR internal error} reply. None of this affects other connections or
 * the acceptor. Per-connection events (closed at the cap, cut at the deadline, malformed) are logged
 * through a {@link LogLimiter}: one line per kind per 10 s plus a count of the rest, so a peer that
 * connects in a loop cannot grow the daemon's log without bound.
 *
 * <p><b>Replies.</b> {@code HELLO}: the fields of {@link HelloReply#toFields()}. {@code STATUS}: the
 * same, then {@code uptime-ms} (since {@code start}), {@code connections-served} (admitted, this one
 * included), {@code connections-open}, {@code connections-rejected} (closed to stay under the cap),
 * {@code connections-cut} (deadline), {@code connections-malformed}, {@code peers-rejected} (other
 * users, from {@link IpcListener#rejectedPeers()}), {@code requests}, then the handler's
 * {@link ControlHandler#statusFields()}. {@code SHUTDOWN}: {@code OK} with no fields, every time;
 * the handler's action runs once.
 *
 * <p>All public methods are thread-safe. Logging goes through {@link System.Logger} named after
 * this class.
 */
public final class ControlServer implements Closeable {

  /** Made on first use: {@code System.getLogger} starts java.util.logging, which must not delay readiness. */
  private static final class Log {
    static final System.Logger LOG = System.getLogger(ControlServer.class.getName());
  }
  private static final AtomicInteger SERVERS = new AtomicInteger();
  private static final Duration MAX_ACCEPT_BACKOFF = Duration.ofSeconds(1);
  /** Replies one connection may have waiting to be written before its further requests wait. */
  static final int MAX_QUEUED_REPLIES = 16;

  /**
   * Limits for a control server.
   *
   * @param connectionDeadline how long a connection may stay open after accept, positive
   * @param maxConnections how many connections may be open at once, positive; past it the oldest
   *     connection is closed to admit a new one (see the class documentation)
   */
  public record Options(Duration connectionDeadline, int maxConnections) {
    /** The default per-connection deadline: 5 seconds. */
    public static final Duration DEFAULT_CONNECTION_DEADLINE = Duration.ofSeconds(5);
    /** The default cap on concurrent control connections: 128 (one descriptor and a few hundred bytes each). */
    public static final int DEFAULT_MAX_CONNECTIONS = 128;

    /** Validates both limits. */
    public Options {
      Objects.requireNonNull(connectionDeadline, "connectionDeadline");
      if (connectionDeadline.isNegative() || connectionDeadline.isZero()) {
        throw new IllegalArgumentException("connectionDeadline must be positive, got " + connectionDeadline);
      }
      if (maxConnections <= 0) {
        throw new IllegalArgumentException("maxConnections must be positive, got " + maxConnections);
      }
    }

    /** The defaults: 5 s per connection, 128 connections. */
    public static Options defaults() {
      return new Options(DEFAULT_CONNECTION_DEADLINE, DEFAULT_MAX_CONNECTIONS);
    }

    /** A copy with another deadline. */
    public Options withConnectionDeadline(Duration deadline) {
      return new Options(deadline, maxConnections);
    }

    /** A copy with another connection cap. */
    public Options withMaxConnections(int max) {
      return new Options(connectionDeadline, max);
    }
  }

  private final IpcListener listener;
  private final ControlHandler handler;
  private final Options options;
  private final String threadPrefix;
  private final long startNanos = System.nanoTime();
  private final Thread acceptor;
  /** Accepted, not yet admitted by the I/O thread; guarded by itself. */
  private final ArrayDeque<SocketChannel> handOff = new ArrayDeque<>();
  /** Set (under handOff) when the I/O thread is started: with the first connection. */
  private Thread io;
  private volatile Selector selector;
  /** Open connections in admission order, which is also deadline order. I/O thread only. */
  private final LinkedHashSet<Connection> open = new LinkedHashSet<>();
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicBoolean shutdownRequested = new AtomicBoolean();
  private final CountDownLatch closedLatch = new CountDownLatch(1);
  private final AtomicLong served = new AtomicLong();
  private final AtomicLong rejected = new AtomicLong();
  private final AtomicLong cut = new AtomicLong();
  private final AtomicLong malformed = new AtomicLong();
  private final AtomicLong requests = new AtomicLong();
  /** Made on the first event worth logging, off the way to readiness; acceptor and I/O threads. */
  private volatile LogLimiter logLimiter;
  /** Reused for every read; I/O thread only. */
  private final ByteBuffer readBuffer = ByteBuffer.allocate(4096);

  private ControlServer(IpcListener listener, ControlHandler handler, Options options) {
    this.listener = listener;
    this.handler = handler;
    this.options = options;
    this.threadPrefix = "fastbind-control-" + SERVERS.incrementAndGet() + "-";
    this.acceptor = daemon(new Runnable() {
      @Override
      public void run() {
        acceptLoop();
      }
    }, threadPrefix + "accept");
  }

  /** Starts serving {@code listener} with the default {@link Options}; see the class documentation. */
  public static ControlServer start(IpcListener listener, ControlHandler handler) {
    return start(listener, handler, Options.defaults());
  }

  /**
   * Starts serving {@code listener}: returns at once, with the acceptor thread running. The server
   * takes ownership of the listener and closes it in {@link #close()}.
   */
  public static ControlServer start(IpcListener listener, ControlHandler handler, Options options) {
    Objects.requireNonNull(listener, "listener");
    Objects.requireNonNull(handler, "handler");
    Objects.requireNonNull(options, "options");
    ControlServer server = new ControlServer(listener, handler, options);
    server.acceptor.start();
    return server;
  }

  /** The control endpoint being served. */
  public Endpoint endpoint() {
    return listener.endpoint();
  }

  /** The limits this server enforces. */
  public Options options() {
    return options;
  }

  /** Connections admitted since start. */
  public long connectionsServed() {
    return served.get();
  }

  /** Connections closed to stay under the cap (the oldest, when a new one came). */
  public long connectionsRejected() {
    return rejected.get();
  }

  /** Connections closed because they were still open at their deadline. */
  public long connectionsCutOff() {
    return cut.get();
  }

  /** Connections closed because of a malformed frame. */
  public long connectionsMalformed() {
    return malformed.get();
  }

  /** Connections open right now. */
  public int connectionsOpen() {
    return active.get();
  }

  /** Whether {@link #close()} has been called. */
  public boolean isClosed() {
    return closed.get();
  }

  /** The prefix of every thread this server starts, {@code fastbind-control-<n>-}. */
  String threadPrefix() {
    return threadPrefix;
  }

  /**
   * Stops accepting, closes the listener and every open connection. Returns without waiting: the
   * server's threads end within milliseconds. Safe to call from any thread, including a handler's.
   * Idempotent. A running {@code shutdown} thread is left alone.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    closedLatch.countDown();
    try {
      listener.close();
    } catch (IOException e) {
      Log.LOG.log(Level.WARNING, "closing control listener " + listener.endpoint() + " failed: " + e, e);
    }
    Thread ioThread;
    synchronized (handOff) {
      ioThread = io;
      if (ioThread == null) {
        for (SocketChannel c : handOff) {
          Listeners.closeQuietly(c);
        }
        handOff.clear();
      }
    }
    Selector sel = selector;
    if (sel != null) {
      sel.wakeup(); // the I/O thread sees closed, closes every connection and its selector
    }
  }

  private void acceptLoop() {
    long backoffMillis = 0;
    while (!closed.get()) {
      SocketChannel channel;
      try {
        channel = listener.accept();
        backoffMillis = 0;
      } catch (ClosedChannelException e) {
        if (!closed.get()) {
          Log.LOG.log(Level.ERROR, "control listener " + listener.endpoint()
              + " was closed by someone else; the control endpoint no longer answers");
        }
        return;
      } catch (IOException | RuntimeException e) {
        if (closed.get()) {
          return;
        }
        // Descriptor exhaustion is waited out inside accept; this is anything else: back off
        // (bounded, cut short by close) instead of spinning.
        backoffMillis = Math.min(Math.max(backoffMillis * 2, 10), MAX_ACCEPT_BACKOFF.toMillis());
        LogLimiter.Verdict v = limiter().event("accept");
        if (v.logThis()) {
          Log.LOG.log(Level.WARNING, "accept on control endpoint " + listener.endpoint() + " failed: " + e
              + "; retrying in " + backoffMillis + " ms" + suppressedNote(v), e);
        }
        try {
          closedLatch.await(backoffMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException ie) {
          return;
        }
        continue;
      }
      handOver(channel);
    }
  }

  /** Queues an accepted connection for the I/O thread, starting that thread with the first one. */
  private void handOver(SocketChannel channel) {
    Selector sel;
    synchronized (handOff) {
      if (closed.get()) {
        Listeners.closeQuietly(channel);
        return;
      }
      handOff.add(channel);
      if (io == null) {
        try {
          selector = channel.provider().openSelector();
        } catch (IOException e) {
          Log.LOG.log(Level.ERROR, "cannot open a selector for control endpoint " + listener.endpoint() + ": " + e, e);
          handOff.remove(channel);
          Listeners.closeQuietly(channel);
          return;
        }
        io = daemon(new Runnable() {
          @Override
          public void run() {
            ioLoop();
          }
        }, threadPrefix + "io");
        io.start();
        return;
      }
      sel = selector;
    }
    sel.wakeup();
  }

  private void ioLoop() {
    Selector sel = selector;
    try {
      while (!closed.get()) {
        admitHandedOver();
        cutExpired();
        long timeoutMillis = 0;
        if (!open.isEmpty()) {
          long untilDeadline = open.iterator().next().deadlineNanos - System.nanoTime();
          timeoutMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(untilDeadline) + 1);
        }
        sel.select(timeoutMillis);
        Iterator<SelectionKey> keys = sel.selectedKeys().iterator();
        while (keys.hasNext()) {
          SelectionKey key = keys.next();
          keys.remove();
          Connection c = (Connection) key.attachment();
          if (!key.isValid()) {
            c.finish();
          } else {
            c.onReady(key);
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      if (!closed.get()) {
        Log.LOG.log(Level.ERROR, "the control endpoint " + listener.endpoint() + " stopped answering: " + e, e);
      }
    } finally {
      for (Connection c : new ArrayList<>(open)) {
        c.finish();
      }
      synchronized (handOff) {
        for (SocketChannel c : handOff) {
          Listeners.closeQuietly(c);
        }
        handOff.clear();
      }
      try {
        sel.close();
      } catch (IOException e) {
        Log.LOG.log(Level.DEBUG, "closing the control selector failed: " + e);
      }
    }
  }

  private void admitHandedOver() {
    List<SocketChannel> fresh;
    synchronized (handOff) {
      if (handOff.isEmpty()) {
        return;
      }
      fresh = new ArrayList<>(handOff);
      handOff.clear();
    }
    for (SocketChannel channel : fresh) {
      if (closed.get()) {
        Listeners.closeQuietly(channel);
        continue;
      }
      while (open.size() >= options.maxConnections()) {
        evictOldest();
      }
      Connection c;
      try {
        channel.configureBlocking(false);
        c = new Connection(channel, served.incrementAndGet(),
            System.nanoTime() + options.connectionDeadline().toNanos());
        c.key = channel.register(selector, SelectionKey.OP_READ, c);
      } catch (IOException | RuntimeException e) {
        Log.LOG.log(Level.DEBUG, "cannot register a control connection: " + e);
        Listeners.closeQuietly(channel);
        continue;
      }
      open.add(c);
      active.incrementAndGet();
      c.readAvailable(); // its request is usually there already
    }
  }

  /** Closes the oldest connection, after answering what it sent: the cap costs it, not a newcomer. */
  private void evictOldest() {
    Connection oldest = open.iterator().next();
    oldest.readAvailable();
    if (oldest.isOpen()) {
      oldest.flush();
      rejected.incrementAndGet();
      LogLimiter.Verdict v = limiter().event("cap");
      if (v.logThis()) {
        Log.LOG.log(Level.WARNING, "control endpoint " + listener.endpoint() + ": " + options.maxConnections()
            + " connections are open (the cap); closed the oldest, connection " + oldest.id
            + ", to admit a new one" + suppressedNote(v));
      }
      oldest.finish();
    }
  }

  private void cutExpired() {
    long now = System.nanoTime();
    while (!open.isEmpty()) {
      Connection oldest = open.iterator().next();
      if (oldest.deadlineNanos - now > 0) {
        return;
      }
      cut.incrementAndGet();
      LogLimiter.Verdict v = limiter().event("deadline");
      if (v.logThis()) {
        Log.LOG.log(Level.WARNING, "cutting off control connection " + oldest.id + " on " + listener.endpoint()
            + ": still open at its deadline of " + options.connectionDeadline().toMillis() + " ms after accept"
            + suppressedNote(v));
      }
      oldest.finish();
    }
  }

  private LogLimiter limiter() {
    LogLimiter l = logLimiter;
    if (l == null) {
      synchronized (this) {
        l = logLimiter;
        if (l == null) {
          l = new LogLimiter();
          logLimiter = l;
        }
      }
    }
    return l;
  }

  private static String suppressedNote(LogLimiter.Verdict v) {
    return v.suppressed() == 0 ? "" : " (" + v.suppressed() + " more like it in the last " + v.windowSeconds()
        + " s were not logged)";
  }

  /** One admitted connection; all of its state belongs to the I/O thread. */
  private final class Connection {
    private final SocketChannel channel;
    private final long id;
    private final long deadlineNanos;
    private final ControlFrames.Decoder decoder = new ControlFrames.Decoder();
    /** Reply bytes not yet written, in order. */
    private final ArrayDeque<ByteBuffer> output = new ArrayDeque<>();
    private SelectionKey key;
    private boolean eof;
    private boolean shutdownAfterFlush;
    private boolean finished;

    Connection(SocketChannel channel, long id, long deadlineNanos) {
      this.channel = channel;
      this.id = id;
      this.deadlineNanos = deadlineNanos;
    }

    boolean isOpen() {
      return !finished;
    }

    void onReady(SelectionKey k) {
      if (k.isWritable()) {
        flush();
      }
      if (!finished && k.isValid() && k.isReadable()) {
        readAvailable();
      }
    }

    /** Reads what has arrived and answers every complete request; stops while replies are unwritten. */
    void readAvailable() {
      if (finished) {
        return;
      }
      try {
        while (output.isEmpty() && !eof) {
          readBuffer.clear();
          int n = channel.read(readBuffer);
          if (n < 0) {
            eof = true;
            break;
          }
          if (n == 0) {
            break;
          }
          readBuffer.flip();
          decoder.feed(readBuffer);
          answerBuffered();
          flush();
          if (finished) {
            return;
          }
        }
      } catch (ControlProtocolException e) {
        malformed(e);
        return;
      } catch (IOException e) {
        finish();
        return;
      }
      if (eof && output.isEmpty()) {
        finish();
        return;
      }
      updateInterest();
    }

    /**
     * Answers the complete requests already received, until {@value ControlServer#MAX_QUEUED_REPLIES} replies wait
     * to be written: a peer that pipelines requests without reading replies holds a bounded amount of
     * memory, and the rest of its requests wait in the decoder (and then in its socket).
     */
    void answerBuffered() throws ControlProtocolException {
      while (output.size() < MAX_QUEUED_REPLIES) {
        Optional<String> p = decoder.poll();
        if (p.isEmpty()) {
          return;
        }
        answer(p.get());
      }
    }

    private void answer(String payload) {
      requests.incrementAndGet();
      int space = payload.indexOf(' ');
      Optional<Command> command = Command.of(space < 0 ? payload : payload.substring(0, space));
      if (command.isPresent() && (space < 0) == (command.get() == Command.HANDOVER)) {
        command = Optional.empty(); // an argument where none belongs, or HANDOVER without its path
      }
      io.netty.buffer.ByteBuf frame;
      try {
        Reply reply = command.isEmpty()
            ? Reply.error("unknown command '" + Escaping.printable(payload) + "'; expected HELLO, STATUS or SHUTDOWN")
            : switch (command.get()) {
              case HELLO -> Reply.ok(handler.hello().toFields());
              case STATUS -> Reply.ok(statusFields());
              case SHUTDOWN -> Reply.ok(Map.of());
              case HANDOVER -> handover(payload.substring(space + 1));
            };
        frame = ControlFrames.encodeFrame(reply.toPayload());
      } catch (RuntimeException e) {
        Log.LOG.log(Level.ERROR, "control request " + Escaping.printable(payload) + " failed: " + e, e);
        frame = ControlFrames.encodeFrame(Reply.error("internal error: " + Escaping.printable(e.toString())).toPayload());
      }
      try {
        byte[] bytes = new byte[frame.readableBytes()];
        frame.readBytes(bytes);
        output.add(ByteBuffer.wrap(bytes));
      } finally {
        frame.release();
      }
      if (command.isPresent() && command.get() == Command.SHUTDOWN) {
        shutdownAfterFlush = true;
      }
    }

    /** Writes what the socket takes now (answering requests still buffered); the rest waits for OP_WRITE. */
    void flush() {
      if (finished) {
        return;
      }
      try {
        while (!output.isEmpty()) {
          ByteBuffer head = output.peek();
          channel.write(head);
          if (head.hasRemaining()) {
            break;
          }
          output.poll();
          if (output.isEmpty()) {
            answerBuffered();
          }
        }
      } catch (ControlProtocolException e) {
        malformed(e);
        return;
      } catch (IOException e) {
        finish();
        return;
      }
      if (output.isEmpty() && shutdownAfterFlush) {
        shutdownAfterFlush = false;
        requestShutdown();
      }
      if (output.isEmpty() && eof) {
        finish();
        return;
      }
      updateInterest();
    }

    private void updateInterest() {
      if (!finished && key != null && key.isValid()) {
        key.interestOps(output.isEmpty() ? SelectionKey.OP_READ : SelectionKey.OP_WRITE);
      }
    }

    private void malformed(ControlProtocolException e) {
      malformed.incrementAndGet();
      LogLimiter.Verdict v = limiter().event("malformed");
      if (v.logThis()) {
        Log.LOG.log(Level.WARNING, "closing control connection " + id + " on " + listener.endpoint()
            + ": malformed frame: " + e.getMessage() + suppressedNote(v));
      }
      finish();
    }

    /** Closes the connection and forgets it. Idempotent. */
    void finish() {
      if (finished) {
        return;
      }
      finished = true;
      if (key != null) {
        key.cancel();
      }
      Listeners.closeQuietly(channel);
      decoder.close();
      if (open.remove(this)) {
        active.decrementAndGet();
      }
    }
  }

  private Reply handover(String escapedPath) {
    String path = Escaping.unescapeOrNull(escapedPath, 0, escapedPath.length());
    if (path == null || path.isEmpty()) {
      return Reply.error("HANDOVER needs an escaped rendezvous path");
    }
    Optional<String> refused = handler.handover(java.nio.file.Path.of(path));
    return refused.isPresent() ? Reply.error(refused.get()) : Reply.ok(Map.of());
  }

  private Map<String, String> statusFields() {
    LinkedHashMap<String, String> f = new LinkedHashMap<>(handler.hello().toFields());
    f.put("uptime-ms", Long.toString(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos)));
    f.put("connections-served", Long.toString(served.get()));
    f.put("connections-open", Integer.toString(active.get()));
    f.put("connections-rejected", Long.toString(rejected.get()));
    f.put("connections-cut", Long.toString(cut.get()));
    f.put("connections-malformed", Long.toString(malformed.get()));
    f.put("peers-rejected", Long.toString(listener.rejectedPeers()));
    f.put("requests", Long.toString(requests.get()));
    for (Map.Entry<String, String> e : handler.statusFields().entrySet()) {
      if (f.containsKey(e.getKey())) {
        Log.LOG.log(Level.WARNING, "STATUS field '" + e.getKey() + "' from the handler collides with a built-in field; dropped");
      } else {
        f.put(e.getKey(), e.getValue());
      }
    }
    return f;
  }

  private void requestShutdown() {
    if (!shutdownRequested.compareAndSet(false, true)) {
      return;
    }
    Log.LOG.log(Level.INFO, "SHUTDOWN requested on control endpoint " + listener.endpoint());
    daemon(new Runnable() {
      @Override
      public void run() {
        try {
          handler.shutdown();
        } catch (RuntimeException | Error e) {
          Log.LOG.log(Level.ERROR, "the shutdown action failed: " + e, e);
        }
      }
    }, threadPrefix + "shutdown").start();
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

}
