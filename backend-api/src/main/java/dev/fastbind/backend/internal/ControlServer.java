package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.ControlFrames.Command;
import dev.fastbind.backend.internal.ControlFrames.Reply;
import java.io.Closeable;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
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
 *   <li>{@code fastbind-control-<n>-accept}: blocks in {@link IpcListener#accept()}; admits a
 *       connection or, when {@link Options#maxConnections()} are already open, closes it at once
 *       with a logged reason.
 *   <li>{@code fastbind-control-<n>-conn-<m>}: one per admitted connection, blocking reads and
 *       writes; answers requests in order until the peer closes.
 *   <li>{@code fastbind-control-<n>-reaper}: one scheduled task per connection closes its channel
 *       at the absolute deadline ({@link Options#connectionDeadline()} after accept), which ends
 *       the connection thread's blocking read or write. A silent or trickling peer therefore costs
 *       one thread for at most the deadline, with no polling and no sleeps.
 *   <li>{@code fastbind-control-<n>-shutdown}: started once, on the first {@code SHUTDOWN}, to run
 *       {@link ControlHandler#shutdown()} after the {@code OK} reply was written.
 * </ul>
 *
 * <p>Thread-per-connection with blocking channels was chosen over a selector because control
 * traffic is rare and capped, the code stays short, and it works unchanged with any channel an
 * {@code IpcListener} hands out (JDK or junixsocket).
 *
 * <p><b>Robustness.</b> A malformed frame (length prefix outside 1..{@value
 * ControlFrames#MAX_FRAME_BYTES}, invalid UTF-8) closes that connection with a logged reason. An
 * unknown command is answered {@code ERR unknown command '…'} and the connection stays usable. A
 * connection lives at most its deadline, whatever it does: clients send a request or two and
 * close. A handler that throws gets an {@code ERR internal error} reply. None of this affects other
 * connections or the acceptor.
 *
 * <p><b>Replies.</b> {@code HELLO}: the fields of {@link HelloReply#toFields()}. {@code STATUS}: the
 * same, then {@code uptime-ms} (since {@code start}), {@code connections-served} (admitted under
 * the cap, this one included), {@code connections-open}, {@code connections-rejected} (over the
 * cap), {@code connections-cut} (deadline), {@code connections-malformed}, {@code peers-rejected}
 * (other users, from {@link IpcListener#rejectedPeers()}), {@code requests}, then the handler's
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

  /**
   * Limits for a control server.
   *
   * @param connectionDeadline how long a connection may stay open after accept, positive
   * @param maxConnections how many connections may be open at once, positive
   */
  public record Options(Duration connectionDeadline, int maxConnections) {
    /** The default per-connection deadline: 5 seconds. */
    public static final Duration DEFAULT_CONNECTION_DEADLINE = Duration.ofSeconds(5);
    /** The default cap on concurrent control connections: 16. */
    public static final int DEFAULT_MAX_CONNECTIONS = 16;

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

    /** The defaults: 5 s per connection, 16 connections. */
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
  private final ScheduledThreadPoolExecutor reaper;
  private final Thread acceptor;
  private final Set<Connection> open = ConcurrentHashMap.newKeySet();
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicBoolean shutdownRequested = new AtomicBoolean();
  private final CountDownLatch closedLatch = new CountDownLatch(1);
  private final AtomicLong served = new AtomicLong();
  private final AtomicLong rejected = new AtomicLong();
  private final AtomicLong cut = new AtomicLong();
  private final AtomicLong malformed = new AtomicLong();
  private final AtomicLong requests = new AtomicLong();

  private ControlServer(IpcListener listener, ControlHandler handler, Options options) {
    this.listener = listener;
    this.handler = handler;
    this.options = options;
    this.threadPrefix = "fastbind-control-" + SERVERS.incrementAndGet() + "-";
    this.reaper = new ScheduledThreadPoolExecutor(1, r -> daemon(r, threadPrefix + "reaper"));
    reaper.setRemoveOnCancelPolicy(true);
    reaper.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    this.acceptor = daemon(this::acceptLoop, threadPrefix + "accept");
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

  /** Connections admitted (under the cap) since start. */
  public long connectionsServed() {
    return served.get();
  }

  /** Connections closed at once because the cap was reached. */
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
   * Stops accepting, closes the listener and every open connection, and stops the reaper. Returns
   * without waiting: the server's threads end within milliseconds as their channels close. Safe to
   * call from any thread, including a handler's. Idempotent. A running {@code shutdown} thread is
   * left alone.
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
    for (Connection c : open) {
      c.closeChannel();
    }
    reaper.shutdownNow();
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
        // For example EMFILE: back off (bounded, cut short by close) instead of spinning.
        backoffMillis = Math.min(Math.max(backoffMillis * 2, 10), MAX_ACCEPT_BACKOFF.toMillis());
        Log.LOG.log(Level.WARNING, "accept on control endpoint " + listener.endpoint() + " failed: " + e
            + "; retrying in " + backoffMillis + " ms", e);
        try {
          closedLatch.await(backoffMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException ie) {
          return;
        }
        continue;
      }
      admit(channel);
    }
  }

  private void admit(SocketChannel channel) {
    if (closed.get()) {
      closeQuietly(channel);
      return;
    }
    int max = options.maxConnections();
    if (active.get() >= max) {
      rejected.incrementAndGet();
      Log.LOG.log(Level.WARNING, "control endpoint " + listener.endpoint() + ": refusing a connection, "
          + max + " connections are already open (the cap)");
      closeQuietly(channel);
      return;
    }
    active.incrementAndGet();
    long id = served.incrementAndGet();
    Connection c = new Connection(channel, id);
    open.add(c);
    if (closed.get()) {
      c.closeChannel();
    }
    try {
      c.deadlineTask = reaper.schedule(c::cutOff, options.connectionDeadline().toNanos(), TimeUnit.NANOSECONDS);
      daemon(c::run, threadPrefix + "conn-" + id).start();
    } catch (RejectedExecutionException e) {
      c.finish(); // the server is closing
    } catch (RuntimeException | OutOfMemoryError e) {
      Log.LOG.log(Level.ERROR, "cannot start a thread for control connection " + id + ": " + e, e);
      c.finish();
    }
  }

  /** One admitted connection; its thread reads requests and writes replies until EOF or close. */
  private final class Connection {
    private static final int OPEN = 0;
    private static final int DONE = 1;
    private static final int CUT = 2;

    private final SocketChannel channel;
    private final long id;
    private final AtomicInteger state = new AtomicInteger(OPEN);
    private volatile ScheduledFuture<?> deadlineTask;

    Connection(SocketChannel channel, long id) {
      this.channel = channel;
      this.id = id;
    }

    void run() {
      ByteBuffer in = ByteBuffer.allocate(4096);
      try (ControlFrames.Decoder decoder = new ControlFrames.Decoder()) {
        while (true) {
          in.clear();
          if (channel.read(in) < 0) {
            if (decoder.bufferedBytes() > 0) {
              Log.LOG.log(Level.DEBUG, () -> "control connection " + id + " closed by the peer in the middle of a frame");
            }
            return;
          }
          in.flip();
          decoder.feed(in);
          for (Optional<String> p = decoder.poll(); p.isPresent(); p = decoder.poll()) {
            answer(p.get());
          }
        }
      } catch (ControlProtocolException e) {
        malformed.incrementAndGet();
        Log.LOG.log(Level.WARNING, "closing control connection " + id + " on " + listener.endpoint()
            + ": malformed frame: " + e.getMessage());
      } catch (IOException e) {
        if (state.get() == CUT) {
          return; // logged by cutOff
        }
        if (!closed.get()) {
          Log.LOG.log(Level.DEBUG, () -> "control connection " + id + " failed: " + e);
        }
      } finally {
        finish();
      }
    }

    private void answer(String payload) throws IOException {
      requests.incrementAndGet();
      Optional<Command> command = Command.of(payload);
      io.netty.buffer.ByteBuf frame;
      try {
        Reply reply = command.isEmpty()
            ? Reply.error("unknown command '" + ControlFrames.printable(payload) + "'; expected HELLO, STATUS or SHUTDOWN")
            : switch (command.get()) {
              case HELLO -> Reply.ok(handler.hello().toFields());
              case STATUS -> Reply.ok(statusFields());
              case SHUTDOWN -> Reply.ok(Map.of());
            };
        frame = ControlFrames.encodeFrame(reply.toPayload());
      } catch (RuntimeException e) {
        Log.LOG.log(Level.ERROR, "control request " + ControlFrames.printable(payload) + " failed: " + e, e);
        frame = ControlFrames.encodeFrame(Reply.error("internal error: " + ControlFrames.printable(e.toString())).toPayload());
      }
      ControlFrames.writeFrame(channel, frame);
      if (command.isPresent() && command.get() == Command.SHUTDOWN) {
        requestShutdown();
      }
    }

    /** Runs on the reaper thread at the deadline. */
    void cutOff() {
      if (state.compareAndSet(OPEN, CUT)) {
        cut.incrementAndGet();
        Log.LOG.log(Level.WARNING, "cutting off control connection " + id + " on " + listener.endpoint()
            + ": still open at its deadline of " + options.connectionDeadline().toMillis() + " ms after accept");
        closeQuietly(channel);
      }
    }

    void closeChannel() {
      closeQuietly(channel);
    }

    /** Called exactly once, by the connection's own thread (or by admit when no thread started). */
    void finish() {
      state.compareAndSet(OPEN, DONE);
      ScheduledFuture<?> task = deadlineTask;
      if (task != null) {
        task.cancel(false);
      }
      closeQuietly(channel);
      open.remove(this);
      active.decrementAndGet();
    }
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
    handler.statusFields().forEach((k, v) -> {
      if (f.containsKey(k)) {
        Log.LOG.log(Level.WARNING, "STATUS field '" + k + "' from the handler collides with a built-in field; dropped");
      } else {
        f.put(k, v);
      }
    });
    return f;
  }

  private void requestShutdown() {
    if (!shutdownRequested.compareAndSet(false, true)) {
      return;
    }
    Log.LOG.log(Level.INFO, "SHUTDOWN requested on control endpoint " + listener.endpoint());
    daemon(() -> {
      try {
        handler.shutdown();
      } catch (RuntimeException | Error e) {
        Log.LOG.log(Level.ERROR, "the shutdown action failed: " + e, e);
      }
    }, threadPrefix + "shutdown").start();
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  private static void closeQuietly(SocketChannel channel) {
    try {
      channel.close();
    } catch (IOException e) {
      Log.LOG.log(Level.DEBUG, () -> "closing a control connection failed: " + e);
    }
  }
}
