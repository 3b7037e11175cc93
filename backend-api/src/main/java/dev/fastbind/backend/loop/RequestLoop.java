package dev.fastbind.backend.loop;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.internal.ControlHandler;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.LoopFrames;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A ready server for a daemon's listener: length-prefixed frames, a {@link Handler}, bounded
 * concurrency, a warm-up policy and a graceful drain. For a daemon that wants no server stack of its
 * own; the wire format is {@code docs/wire.md}, "Request loop protocol".
 *
 * <pre>{@code
 * public Never serve(IpcListener listener, ServeContext context) throws Exception {
 *   RequestLoop loop = RequestLoop.builder().start(listener, context); // accepting from here on
 *   Index index = Index.load(context::progress);                       // requests wait meanwhile
 *   return loop.serve(Handler.of(Codec.utf8(), Codec.utf8(), (key, ctx) -> index.get(key)));
 * }
 * }</pre>
 *
 * <p><b>Warm-up.</b> {@link Builder#start} accepts connections and reads requests at once; until
 * {@link #serve(Handler)} hands over the handler (and calls {@link ServeContext#ready()}) each request
 * is held or answered {@code WARMING}, as the {@link WarmupPolicy} says. {@link Builder#serve} does
 * both steps for a daemon with nothing to warm.
 *
 * <p><b>Threads.</b> One acceptor thread blocks in {@link IpcListener#accept()} (which checks the
 * peer's user and waits out descriptor exhaustion); one I/O thread reads every connection through a
 * selector, so an idle or slow connection holds no thread; handlers run on virtual threads where
 * the JDK has them (21 and later, detected at run time) and on a pool of platform threads on 17,
 * at most {@link Builder#maxConcurrency} at once either way. Requests beyond that wait in arrival
 * order. Requests on one connection are answered in order, one at a time.
 *
 * <p><b>Limits.</b> A request whose announced payload exceeds {@link Builder#maxPayloadBytes} is
 * answered {@code TOO_LARGE} (with the limit) without reading its payload, and that connection is
 * closed; a frame of an unknown kind is answered {@code MALFORMED} and closed. Neither affects other
 * connections. (A client that reads on after such an answer may see a reset rather than an end of
 * stream: the kernel reports a close that left bytes unread so.)
 *
 * <p><b>Drain.</b> {@code start} registers a {@linkplain ServeContext#onShutdown shutdown action}: on
 * {@code SHUTDOWN} or SIGTERM the loop stops taking work (every request not yet running, and every
 * new one, is answered {@code REFUSED}, and each idle connection is told so and closed), waits up to
 * {@link Builder#drainGrace} for the requests in flight to be answered, and only then lets the SDK
 * remove the daemon's files and exit. Requests still running at the end of the grace period have
 * their threads interrupted and their connections closed. Keep the grace below the broker's stop
 * grace (5 s, of which an acknowledged {@code SHUTDOWN} gets three quarters) so that a
 * {@code Broker.stop} never has to signal a draining daemon.
 *
 * <p><b>Activity.</b> {@link #activity()} says whether any connection is open or request in flight,
 * and since when: what an idle timeout needs.
 *
 * <p>Thread-safe. Logging goes through {@link System.Logger} named after this class.
 */
public final class RequestLoop {

  /** The default bound on concurrently running handlers: 16. */
  public static final int DEFAULT_MAX_CONCURRENCY = 16;
  /** The default largest request payload: 16 MiB. */
  public static final int DEFAULT_MAX_PAYLOAD_BYTES = LoopFrames.DEFAULT_MAX_PAYLOAD_BYTES;
  /** The default time in-flight requests get to finish on shutdown: 3 s. */
  public static final Duration DEFAULT_DRAIN_GRACE = Duration.ofSeconds(3);

  /** Made on first use, off the way to readiness. */
  private static final class Log {
    static final System.Logger LOG = System.getLogger(RequestLoop.class.getName());
  }

  private static final AtomicInteger LOOPS = new AtomicInteger();
  private static final int RUNNING = 0;
  private static final int DRAINING = 1;
  private static final int STOPPED = 2;

  private final IpcListener listener;
  private final ServeContext context;
  /** Held while the loop has an open connection or a request in flight; guarded by {@code lock}. */
  private ServeContext.Busy busy;
  private final int maxConcurrency;
  private final int maxPayloadBytes;
  private final WarmupPolicy warmup;
  private final Duration drainGrace;
  private final String threadPrefix;
  /**
   * Opened with the first connection, from its channel's provider: the JDK's channels and
   * junixsocket's (abstract endpoints, adopted descriptors) each need a selector of their own kind.
   */
  private volatile Selector selector;
  private final ExecutorService workers;
  private final boolean virtualThreads;
  private final Thread acceptor;
  private final Thread io;
  /** Work for the I/O thread (admitting a connection, draining), run before each select. */
  private final ConcurrentLinkedQueue<Runnable> ioTasks = new ConcurrentLinkedQueue<>();
  private final Set<Connection> open = ConcurrentHashMap.newKeySet();
  private final AtomicLong connectionIds = new AtomicLong();
  /** Counted down when the loop has stopped, for whatever reason; {@link #serve} then ends. */
  private final CountDownLatch ended = new CountDownLatch(1);

  /** Guards the fields below it; also what a drain waits on. */
  private final Object lock = new Object();
  private volatile int state = RUNNING;
  private volatile Handler handler;
  private final List<Held> held = new ArrayList<>();
  private int connections;
  private int inFlight;
  private long changedAtNanos = System.nanoTime();
  private String endReason;

  private RequestLoop(Builder b, IpcListener listener, ServeContext context) throws IOException {
    this.listener = listener;
    this.context = context;
    this.maxConcurrency = b.maxConcurrency;
    this.maxPayloadBytes = b.maxPayloadBytes;
    this.warmup = b.warmup;
    this.drainGrace = b.drainGrace;
    this.threadPrefix = "fastbind-loop-" + LOOPS.incrementAndGet() + "-";
    Workers.Pool pool = Workers.pool(threadPrefix + "handler-", maxConcurrency);
    this.workers = pool.executor();
    this.virtualThreads = pool.virtual();
    this.acceptor = new Thread(new Runnable() {
      @Override
      public void run() {
        acceptLoop();
      }
    }, threadPrefix + "accept");
    this.io = new Thread(new Runnable() {
      @Override
      public void run() {
        ioLoop();
      }
    }, threadPrefix + "io");
    acceptor.setDaemon(true);
    io.setDaemon(true);
  }

  /**
   * Starts configuring a loop.
   *
   * @return a builder with the defaults: {@value #DEFAULT_MAX_CONCURRENCY} handlers at once,
   *     {@value #DEFAULT_MAX_PAYLOAD_BYTES}-byte requests, {@link WarmupPolicy#WAIT}, a 3 s drain
   */
  public static Builder builder() {
    return new Builder();
  }

  /** The settings of a loop; not thread-safe, use from {@code serve}. */
  public static final class Builder {
    private int maxConcurrency = DEFAULT_MAX_CONCURRENCY;
    private int maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;
    private WarmupPolicy warmup = WarmupPolicy.WAIT;
    private Duration drainGrace = DEFAULT_DRAIN_GRACE;

    private Builder() {}

    /**
     * How many handlers may run at once; further requests wait in arrival order.
     *
     * @param max at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is less than 1
     */
    public Builder maxConcurrency(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxConcurrency must be at least 1, got " + max);
      }
      this.maxConcurrency = max;
      return this;
    }

    /**
     * The largest request payload the loop reads; a larger one is answered {@code TOO_LARGE}.
     *
     * @param max at least 0 bytes, at most {@code Integer.MAX_VALUE - 5}
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is out of range
     */
    public Builder maxPayloadBytes(int max) {
      if (max < 0 || max > Integer.MAX_VALUE - LoopFrames.HEADER_BYTES) {
        throw new IllegalArgumentException("maxPayloadBytes must be within 0.." + (Integer.MAX_VALUE
            - LoopFrames.HEADER_BYTES) + ", got " + max);
      }
      this.maxPayloadBytes = max;
      return this;
    }

    /**
     * What happens to requests that arrive before {@link RequestLoop#serve(Handler)}.
     *
     * @param policy not null
     * @return this builder
     */
    public Builder warmup(WarmupPolicy policy) {
      this.warmup = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * How long requests in flight get to finish when the daemon is asked to stop.
     *
     * @param grace zero or more; zero cuts them off at once
     * @return this builder
     * @throws IllegalArgumentException if {@code grace} is negative
     */
    public Builder drainGrace(Duration grace) {
      Objects.requireNonNull(grace, "grace");
      if (grace.isNegative()) {
        throw new IllegalArgumentException("drainGrace must not be negative, got " + grace);
      }
      this.drainGrace = grace;
      return this;
    }

    /**
     * Starts accepting and reading requests on {@code listener}, and registers the drain with
     * {@code context}. Returns at once; hand over the handler with {@link RequestLoop#serve(Handler)}.
     *
     * @param listener the listener {@code serve} was given; the loop accepts from it from now on and
     *     leaves closing it to the SDK
     * @param context the context {@code serve} was given
     * @return the running loop
     * @throws IOException never, today; kept so that opening resources here can fail properly
     */
    public RequestLoop start(IpcListener listener, ServeContext context) throws IOException {
      Objects.requireNonNull(listener, "listener");
      Objects.requireNonNull(context, "context");
      RequestLoop loop = new RequestLoop(this, listener, context);
      context.onShutdown(new Runnable() {
        @Override
        public void run() {
          loop.drain();
        }
      });
      loop.acceptor.start();
      return loop;
    }

    /**
     * {@link #start} and {@link RequestLoop#serve(Handler)} in one: for a daemon with nothing to warm.
     *
     * @param listener the listener {@code serve} was given
     * @param context the context {@code serve} was given
     * @param handler what to answer each request with
     * @return never; see {@link RequestLoop#serve(Handler)}
     * @throws IOException when the loop stops; see {@link RequestLoop#serve(Handler)}
     */
    public Never serve(IpcListener listener, ServeContext context, Handler handler) throws IOException {
      Objects.requireNonNull(handler, "handler");
      return start(listener, context).serve(handler);
    }
  }

  /**
   * Hands the loop its handler, marks the daemon ready ({@link ServeContext#ready()}) and serves until
   * the daemon stops. Requests held while warming are answered first, in arrival order.
   *
   * <p>Blocks the calling thread, normally {@code serve}'s, for the daemon's life. It returns only by
   * throwing: after a shutdown's drain (the SDK is then already ending the process, and
   * {@code serve}'s exception is ignored), or when the loop cannot go on (its listener was closed by
   * someone else, its I/O thread failed), which ends the daemon with a failure.
   *
   * @param handler what to answer each request with; not null
   * @return never
   * @throws IOException when the loop has stopped, saying why
   * @throws InterruptedIOException if the calling thread is interrupted; the loop goes on serving
   * @throws IllegalStateException if a handler was already given
   */
  public Never serve(Handler handler) throws IOException {
    Objects.requireNonNull(handler, "handler");
    List<Held> release;
    synchronized (lock) {
      if (this.handler != null) {
        throw new IllegalStateException("the request loop on " + listener.endpoint() + " already has a handler");
      }
      this.handler = handler;
      release = new ArrayList<>(held);
      held.clear();
    }
    context.ready();
    for (Held h : release) {
      workers.execute(new Task(h.connection, h.request, handler));
    }
    try {
      ended.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while serving " + listener.endpoint());
    }
    String why;
    synchronized (lock) {
      why = endReason;
    }
    throw new IOException("the request loop on " + listener.endpoint() + " stopped: " + why);
  }

  /**
   * Whether the loop is busy or idle, and since when.
   *
   * @return a snapshot: {@link Activity.Busy} while a connection is open or a request in flight, else
   *     {@link Activity.Idle}
   */
  public Activity activity() {
    synchronized (lock) {
      Duration since = Duration.ofNanos(Math.max(0, System.nanoTime() - changedAtNanos));
      return connections == 0 && inFlight == 0 ? new Activity.Idle(since)
          : new Activity.Busy(connections, inFlight, since);
    }
  }

  /**
   * Whether handlers run on virtual threads (JDK 21 and later) rather than a platform-thread pool.
   *
   * @return true on a JDK with virtual threads
   */
  public boolean usesVirtualThreads() {
    return virtualThreads;
  }

  /**
   * The endpoint being served.
   *
   * @return the listener's endpoint
   */
  public Endpoint endpoint() {
    return listener.endpoint();
  }

  @Override
  public String toString() {
    return "RequestLoop[" + listener.endpoint() + ", " + activity() + "]";
  }

  // ---- accepting ----------------------------------------------------------------------------

  private void acceptLoop() {
    long backoffMillis = 0;
    while (state != STOPPED) {
      SocketChannel channel;
      try {
        channel = listener.accept();
        backoffMillis = 0;
      } catch (ClosedChannelException e) {
        if (state == RUNNING) {
          end("its listener was closed while it was serving");
        }
        return;
      } catch (IOException | RuntimeException e) {
        if (state == STOPPED) {
          return;
        }
        // Descriptor exhaustion is waited out inside accept; this is anything else: back off
        // (bounded, cut short when the loop ends) instead of spinning.
        backoffMillis = Math.min(Math.max(backoffMillis * 2, 10), 1000);
        Log.LOG.log(Level.WARNING, "accept on " + listener.endpoint() + " failed: " + e + "; retrying in "
            + backoffMillis + " ms");
        try {
          ended.await(backoffMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException ie) {
          return;
        }
        continue;
      }
      ioTasks.add(new Admit(channel));
      if (selector == null) {
        try {
          selector = channel.provider().openSelector();
        } catch (IOException | RuntimeException e) {
          Log.LOG.log(Level.ERROR, "cannot open a selector for " + listener.endpoint() + ": " + e, e);
          closeQuietly(channel);
          end("it cannot open a selector: " + e);
          return;
        }
        io.start();
      } else {
        selector.wakeup();
      }
    }
  }

  private final class Admit implements Runnable {
    private final SocketChannel channel;

    Admit(SocketChannel channel) {
      this.channel = channel;
    }

    @Override
    public void run() {
      Connection c;
      try {
        channel.configureBlocking(false);
        c = new Connection(RequestLoop.this, channel, connectionIds.incrementAndGet());
        c.key = channel.register(selector, SelectionKey.OP_READ, c);
      } catch (IOException | RuntimeException e) {
        closeQuietly(channel);
        return;
      }
      open.add(c);
      count(1, 0);
      if (state != RUNNING) {
        c.sendAndClose(refusedFrame());
      }
    }
  }

  // ---- the I/O thread -----------------------------------------------------------------------

  private void ioLoop() {
    Selector selector = this.selector;
    try {
      while (true) {
        Runnable task;
        while ((task = ioTasks.poll()) != null) {
          task.run();
        }
        if (state == STOPPED) {
          return;
        }
        selector.select();
        Iterator<SelectionKey> keys = selector.selectedKeys().iterator();
        while (keys.hasNext()) {
          SelectionKey key = keys.next();
          keys.remove();
          Connection c = (Connection) key.attachment();
          if (!key.isValid()) {
            continue;
          }
          int ready = key.readyOps();
          if ((ready & SelectionKey.OP_WRITE) != 0) {
            c.flush();
          }
          if (key.isValid() && (ready & SelectionKey.OP_READ) != 0) {
            read(c);
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      Log.LOG.log(Level.ERROR, "the request loop on " + listener.endpoint() + " stopped answering: " + e, e);
      end("its I/O thread failed: " + e);
    } finally {
      for (Connection c : open) {
        c.close();
      }
      try {
        selector.close();
      } catch (IOException e) {
        Log.LOG.log(Level.DEBUG, "closing the loop's selector failed: " + e);
      }
    }
  }

  /** Reads what {@code c} has sent: whole frames are dispatched, the rest waits for more bytes. I/O thread. */
  private void read(Connection c) {
    try {
      while (true) {
        if (c.body == null) {
          if (c.channel.read(c.header) < 0) {
            c.peerClosed();
            return;
          }
          if (c.header.hasRemaining()) {
            return;
          }
          byte kind = LoopFrames.kind(c.header);
          long length = LoopFrames.payloadLength(c.header);
          if (kind != LoopFrames.REQUEST) {
            c.finalFrame(LoopFrames.text(LoopFrames.MALFORMED, "expected a REQUEST frame (kind 0x01) but got kind "
                + LoopFrames.kindName(kind) + "; this daemon speaks the fastbind request loop protocol "
                + LoopFrames.VERSION + " (docs/wire.md)"));
            return;
          }
          if (length > maxPayloadBytes) {
            c.finalFrame(LoopFrames.tooLarge(maxPayloadBytes, "the request announces " + length
                + " bytes but this daemon reads at most " + maxPayloadBytes + " (RequestLoop.Builder.maxPayloadBytes);"
                + " its payload was not read and the connection is closed: send smaller requests"));
            return;
          }
          c.body = ByteBuffer.allocate((int) length);
        }
        if (c.body.hasRemaining()) {
          if (c.channel.read(c.body) < 0) {
            c.peerClosed();
            return;
          }
          if (c.body.hasRemaining()) {
            return;
          }
        }
        byte[] request = c.body.array();
        c.body = null;
        c.header.clear();
        if (!c.received(request)) {
          return; // held for after the request in flight, or the connection is closing
        }
      }
    } catch (IOException e) {
      c.peerClosed();
    }
  }

  // ---- requests -----------------------------------------------------------------------------

  /** Takes up a request {@code c} has sent; {@code c} is busy with it from here. Any thread. */
  void start(Connection c, byte[] request) {
    count(0, 1);
    if (state != RUNNING) {
      c.sendAndClose(refusedFrame());
      done(c);
      return;
    }
    Handler h = handler;
    if (h == null) {
      if (warmup == WarmupPolicy.ANSWER_WARMING) {
        c.send(warmingFrame());
        done(c);
        return;
      }
      synchronized (lock) {
        h = handler;
        if (h == null) {
          held.add(new Held(c, request));
          return;
        }
      }
    }
    workers.execute(new Task(c, request, h));
  }

  /** {@code c}'s request is answered (or dropped): take up what it sent next, or tell it the loop is draining. */
  void done(Connection c) {
    Object next = c.nextAfterRequest();
    count(0, -1);
    if (next instanceof byte[]) {
      c.resumeReading();
      start(c, (byte[]) next);
    } else if (next instanceof ByteBuffer) {
      c.sendAndClose((ByteBuffer) next);
    } else if (state != RUNNING) {
      c.sendAndClose(refusedFrame());
    }
  }

  /** A handler's run for one request: the {@link RequestContext} it sees is this object. */
  private final class Task implements Runnable, RequestContext {
    private final Connection connection;
    private final byte[] request;
    private final Handler handler;

    Task(Connection connection, byte[] request, Handler handler) {
      this.connection = connection;
      this.request = request;
      this.handler = handler;
    }

    @Override
    public void run() {
      try {
        if (connection.startRunning()) {
          ByteBuffer reply;
          Throwable fatal = null;
          try {
            byte[] response = handler.handle(request, this);
            reply = response == null
                ? LoopFrames.text(LoopFrames.ERROR, handler.getClass().getName() + ".handle returned null")
                : LoopFrames.frame(LoopFrames.RESPONSE, response);
          } catch (Throwable t) {
            reply = LoopFrames.text(LoopFrames.ERROR, String.valueOf(t));
            if (t instanceof VirtualMachineError) {
              fatal = t;
            }
          } finally {
            connection.stopRunning();
          }
          connection.send(reply);
          if (fatal instanceof Error) {
            throw (Error) fatal;
          }
        }
      } finally {
        done(connection);
      }
    }

    @Override
    public java.util.OptionalLong peerPid() {
      long pid = connection.credentials()[0];
      return pid > 0 ? java.util.OptionalLong.of(pid) : java.util.OptionalLong.empty();
    }

    @Override
    public java.util.OptionalLong peerUid() {
      long uid = connection.credentials()[1];
      return uid >= 0 ? java.util.OptionalLong.of(uid) : java.util.OptionalLong.empty();
    }

    @Override
    public long connectionId() {
      return connection.id;
    }

    @Override
    public boolean isCancelled() {
      return connection.isCancelled();
    }
  }

  /** A request received while warming, under {@link WarmupPolicy#WAIT}. */
  private static final class Held {
    final Connection connection;
    final byte[] request;

    Held(Connection connection, byte[] request) {
      this.connection = connection;
      this.request = request;
    }
  }

  private ByteBuffer refusedFrame() {
    return LoopFrames.text(LoopFrames.REFUSED, "the daemon serving " + listener.endpoint() + " (pid "
        + ProcessHandle.current().pid() + ") is shutting down; the request was not run: ask the broker for the"
        + " daemon again");
  }

  private ByteBuffer warmingFrame() {
    // The SDK's own context knows the progress reported through it; another context says only "not yet".
    if (context instanceof ControlHandler) {
      HelloReply hello = ((ControlHandler) context).hello();
      return LoopFrames.warming(hello.progressPercent(), hello.phase().orElse(""));
    }
    return LoopFrames.warming(0, "");
  }

  // ---- drain and end ------------------------------------------------------------------------

  /**
   * The shutdown action: refuse what is not running, wait up to the grace period for what is, then
   * stop. Runs on the SDK's shutdown thread; idempotent.
   */
  void drain() {
    List<Held> refused;
    synchronized (lock) {
      if (state != RUNNING) {
        return;
      }
      state = DRAINING;
      refused = new ArrayList<>(held);
      held.clear();
    }
    for (Held h : refused) {
      h.connection.sendAndClose(refusedFrame());
      done(h.connection);
    }
    ioTasks.add(new Runnable() {
      @Override
      public void run() {
        for (Connection c : open) {
          c.refuseIfIdle(refusedFrame());
        }
      }
    });
    wakeup();
    long deadline = System.nanoTime() + saturatedNanos(drainGrace);
    boolean interrupted = false;
    synchronized (lock) {
      while (inFlight > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          break;
        }
        try {
          lock.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left + 999_999)));
        } catch (InterruptedException e) {
          interrupted = true;
          break;
        }
      }
      if (inFlight > 0) {
        Log.LOG.log(Level.WARNING, "the request loop on " + listener.endpoint() + " cut off " + inFlight
            + " request(s) still running after its drain grace of " + drainGrace.toMillis() + " ms");
      }
    }
    end("the daemon was asked to shut down and its requests were drained");
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops the loop for {@code why}: handler threads are interrupted, connections closed. Once. */
  private void end(String why) {
    synchronized (lock) {
      if (state == STOPPED) {
        return;
      }
      state = STOPPED;
      endReason = why;
      lock.notifyAll();
    }
    // Connections first, so that a handler the interrupt below ends cannot answer a cut-off request.
    for (Connection c : open) {
      c.close();
    }
    workers.shutdownNow();
    wakeup();
    ended.countDown();
  }

  /** Adjusts the activity counts; marks the moment the loop turns busy or idle. */
  void count(int connectionDelta, int inFlightDelta) {
    synchronized (lock) {
      boolean wasIdle = connections == 0 && inFlight == 0;
      connections += connectionDelta;
      inFlight += inFlightDelta;
      boolean idle = connections == 0 && inFlight == 0;
      if (idle != wasIdle) {
        changedAtNanos = System.nanoTime();
        // The daemon's idle clock (Daemon.Builder.idleTimeout) sees the loop as one piece of work.
        if (idle) {
          if (busy != null) {
            busy.close();
            busy = null;
          }
        } else {
          busy = context.busy();
        }
      }
      if (inFlightDelta < 0 && inFlight == 0 && state == DRAINING) {
        lock.notifyAll();
      }
    }
  }

  /** {@code c} is closed: forget it and count it out. Called once per connection, from any thread. */
  void closed(Connection c) {
    open.remove(c);
    count(-1, 0);
    if (Thread.currentThread() != io) {
      wakeup(); // a registered channel is really closed only by the selector's next round
    }
  }

  /** Asks the I/O thread to apply changed interest ops now. */
  void wakeIo() {
    if (Thread.currentThread() != io) {
      wakeup();
    }
  }

  private void wakeup() {
    Selector s = selector;
    if (s != null) {
      s.wakeup();
    }
  }

  private static long saturatedNanos(Duration d) {
    try {
      return d.toNanos();
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE / 2;
    }
  }

  static void closeQuietly(SocketChannel channel) {
    try {
      channel.close();
    } catch (IOException e) {
      // nothing more to do with a connection that is going away
    }
  }
}
