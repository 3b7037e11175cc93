package dev.fastbind.backend.loop;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.internal.ControlHandler;
import dev.fastbind.backend.internal.DaemonMetrics;
import dev.fastbind.backend.internal.MeteredContext;
import dev.fastbind.backend.internal.MicrometerDaemonMetrics;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.LoopFrames;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

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
 * peer's user and waits out descriptor exhaustion). Each connection has a thread of its own that
 * reads a request with a blocking read, runs the handler itself and writes the answer: a request
 * costs the kernel's one wake-up of that thread, as in a hand-written blocking server, not a
 * selector's wake-up followed by a hand-off to a handler thread. At most
 * {@link Builder#maxConcurrency} handlers run at once; requests beyond that wait, in arrival order,
 * on their connections' threads. Requests on one connection are answered in order, one at a time.
 * The price is a thread per open connection, idle or not, hence {@link Builder#maxConnections}.
 * While a connection's thread is away from its socket for more than about 10 ms (waiting for a
 * slot, or in a long handler), a helper thread reads in its place, so that a client that goes away
 * is noticed; see Cancellation in {@link Handler}. The threads are platform threads unless
 * {@link Builder#virtualThreads} asks otherwise.
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
 * and since when: what an idle timeout needs. The loop holds one {@link ServeContext#busy()} while it
 * is busy, so {@code Daemon.Builder.idleTimeout} sees it without code in the backend.
 *
 * <p><b>Metrics.</b> The loop records {@code fastbind.daemon.connections},
 * {@code fastbind.daemon.connections.active} and {@code fastbind.daemon.requests} (the table on
 * {@link dev.fastbind.backend.Daemon}) into the registry the daemon gave
 * {@code Daemon.Builder.meterRegistry}: it finds it through the SDK's own {@link ServeContext}, by an
 * internal interface, so that {@code ServeContext} names no Micrometer type and Micrometer stays
 * optional. Another context (a test's, a stack of your own) has none; give the loop one with
 * {@link Builder#meterRegistry}. Without a registry the loop loads no Micrometer class and a request
 * costs two tests of a final field more.
 *
 * <p>Thread-safe. Logging goes through {@link System.Logger} named after this class.
 */
public final class RequestLoop {

  /** The default bound on concurrently running handlers: 16. */
  public static final int DEFAULT_MAX_CONCURRENCY = 16;
  /** The default bound on open connections: 256. */
  public static final int DEFAULT_MAX_CONNECTIONS = 256;
  /** The default largest request payload: 16 MiB. */
  public static final int DEFAULT_MAX_PAYLOAD_BYTES = LoopFrames.DEFAULT_MAX_PAYLOAD_BYTES;
  /** The default time in-flight requests get to finish on shutdown: 3 s. */
  public static final Duration DEFAULT_DRAIN_GRACE = Duration.ofSeconds(3);

  /**
   * How long a connection's thread may be away from its socket before a helper reads in its place.
   * Short enough that a client's leaving is noticed promptly; long enough that the requests a loop
   * is for (microseconds to a few milliseconds) never need a helper, nor wake the watch thread
   * more than once per such period.
   */
  static final long AWAY_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
  /** Rounds the watch thread keeps looking while nothing is away, before it waits to be woken: 1 s. */
  private static final int QUIET_ROUNDS = 100;
  /** {@link #watchWakeAt} while the watch thread waits to be woken, or is looking. */
  private static final long UNPLANNED = Long.MAX_VALUE;

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
  private final int maxConcurrency;
  private final int maxConnections;
  private final int maxPayloadBytes;
  private final WarmupPolicy warmup;
  private final Duration drainGrace;
  private final String threadPrefix;
  private final Workers.Pool threads;
  /** Resolved once; {@link DaemonMetrics.LoopMeters#NONE} without a registry. */
  private final DaemonMetrics.LoopMeters meters;
  /** Whether {@link #meters} records: without, a request reads no clock for it. */
  private final boolean metered;
  private final Thread acceptor;
  /** Sends helpers to connections whose thread is away; started with the first connection. */
  private final Thread watch;
  /** When the watch thread looks next, or {@link #UNPLANNED}; a connection going away earlier wakes it. */
  private volatile long watchWakeAt = UNPLANNED;
  private final Set<Connection> open = ConcurrentHashMap.newKeySet();
  private final AtomicLong connectionIds = new AtomicLong();
  /** Helpers sent so far, for tests and diagnostics. */
  private final AtomicLong helpers = new AtomicLong();
  /** Counted down when the loop has stopped, for whatever reason; {@link #serve} then ends. */
  private final CountDownLatch ended = new CountDownLatch(1);

  /**
   * Guards the fields below it. Not a monitor, so that requests waiting for a slot park their
   * threads (virtual ones included) rather than pin them.
   */
  private final ReentrantLock lock = new ReentrantLock();
  /** Signalled on every change a waiter may wait for: a slot, a closed connection, a drain, the end. */
  private final Condition changed = lock.newCondition();
  private volatile int state = RUNNING;
  private volatile Handler handler;
  /** Requests waiting for a slot (or, while warming, for the handler), in arrival order. */
  private final ArrayDeque<Waiter> waiting = new ArrayDeque<>();
  private int running;
  private int connections;
  private int inFlight;
  private long changedAtNanos = System.nanoTime();
  private String endReason;
  /** Held while the loop has an open connection or a request in flight. */
  private ServeContext.Busy busy;
  private boolean watchStarted;

  private RequestLoop(Builder b, IpcListener listener, ServeContext context) {
    this.listener = listener;
    this.context = context;
    this.maxConcurrency = b.maxConcurrency;
    this.maxConnections = b.maxConnections;
    this.maxPayloadBytes = b.maxPayloadBytes;
    this.warmup = b.warmup;
    this.drainGrace = b.drainGrace;
    this.threadPrefix = "fastbind-loop-" + LOOPS.incrementAndGet() + "-";
    this.threads = Workers.pool(threadPrefix + "connection-", b.virtualThreads);
    DaemonMetrics metrics = b.metrics != null ? b.metrics
        : context instanceof MeteredContext ? ((MeteredContext) context).metrics() : DaemonMetrics.NONE;
    this.meters = metrics.loop();
    this.metered = meters != DaemonMetrics.LoopMeters.NONE;
    this.acceptor = new Thread(new Runnable() {
      @Override
      public void run() {
        acceptLoop();
      }
    }, threadPrefix + "accept");
    this.watch = new Thread(new Runnable() {
      @Override
      public void run() {
        watchLoop();
      }
    }, threadPrefix + "watch");
    acceptor.setDaemon(true);
    watch.setDaemon(true);
  }

  /**
   * Starts configuring a loop.
   *
   * @return a builder with the defaults: {@value #DEFAULT_MAX_CONCURRENCY} handlers at once,
   *     {@value #DEFAULT_MAX_CONNECTIONS} connections, {@value #DEFAULT_MAX_PAYLOAD_BYTES}-byte
   *     requests, {@link WarmupPolicy#WAIT}, a 3 s drain, platform threads
   */
  public static Builder builder() {
    return new Builder();
  }

  /** The settings of a loop; not thread-safe, use from {@code serve}. */
  public static final class Builder {
    private int maxConcurrency = DEFAULT_MAX_CONCURRENCY;
    private int maxConnections = DEFAULT_MAX_CONNECTIONS;
    private int maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;
    private WarmupPolicy warmup = WarmupPolicy.WAIT;
    private Duration drainGrace = DEFAULT_DRAIN_GRACE;
    private boolean virtualThreads;
    /** Null: the context's (see Metrics on {@link RequestLoop}). */
    private DaemonMetrics metrics;

    private Builder() {}

    /**
     * Records the loop's meters into {@code registry} rather than the daemon's: for a loop started
     * with a {@link ServeContext} other than the SDK's (which brings the registry given to
     * {@code Daemon.Builder.meterRegistry} by itself). Only this method's body names the class that
     * records into it, so a loop built without it loads no Micrometer class.
     *
     * @param registry where to register and record the meters; not null
     * @return this builder
     */
    public Builder meterRegistry(MeterRegistry registry) {
      this.metrics = MicrometerDaemonMetrics.of(Objects.requireNonNull(registry, "registry"));
      return this;
    }

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
     * How many connections may be open at once. Each has a thread of its own, so this bounds the
     * loop's threads. At the bound the loop stops accepting until a connection closes: a new client
     * waits in the kernel's backlog, within its own deadline. The broker's {@code DaemonClient}
     * keeps at most four idle connections per client.
     *
     * @param max at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is less than 1
     */
    public Builder maxConnections(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxConnections must be at least 1, got " + max);
      }
      this.maxConnections = max;
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
     * Whether connections (and so handlers) run on virtual threads, where the JDK has them (21 and
     * later; on an older JDK the loop uses platform threads and {@link RequestLoop#usesVirtualThreads()}
     * says so). Off by default, because it costs latency: a platform thread blocked reading its
     * socket is woken by the kernel directly, whereas a virtual thread's read parks it, and the
     * JDK's poller thread and then a carrier thread must each get a core before it runs. On a busy
     * 2-core machine (Temurin 25, {@code LoopBenchmark}) a 64-byte round trip took about 45 us at the
     * median on virtual threads against 16 us on platform threads; on an idle one the two are close.
     * Choose virtual threads for many mostly idle connections (an idle one then costs no
     * operating-system thread, and {@link #maxConnections} can be large), or for handlers that block
     * a long time on other I/O.
     *
     * @param virtual true for virtual threads where available
     * @return this builder
     */
    public Builder virtualThreads(boolean virtual) {
      this.virtualThreads = virtual;
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
   * someone else), which ends the daemon with a failure.
   *
   * @param handler what to answer each request with; not null
   * @return never
   * @throws IOException when the loop has stopped, saying why
   * @throws InterruptedIOException if the calling thread is interrupted; the loop goes on serving
   * @throws IllegalStateException if a handler was already given
   */
  public Never serve(Handler handler) throws IOException {
    Objects.requireNonNull(handler, "handler");
    lock.lock();
    try {
      if (this.handler != null) {
        throw new IllegalStateException("the request loop on " + listener.endpoint() + " already has a handler");
      }
      this.handler = handler; // held requests stay first in line: a new one queues behind them
    } finally {
      lock.unlock();
    }
    context.ready();
    lock.lock();
    try {
      grantLocked();
    } finally {
      lock.unlock();
    }
    try {
      ended.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while serving " + listener.endpoint());
    }
    String why;
    lock.lock();
    try {
      why = endReason;
    } finally {
      lock.unlock();
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
    lock.lock();
    try {
      Duration since = Duration.ofNanos(Math.max(0, System.nanoTime() - changedAtNanos));
      return connections == 0 && inFlight == 0 ? new Activity.Idle(since)
          : new Activity.Busy(connections, inFlight, since);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Whether connections and handlers run on virtual threads; see {@link Builder#virtualThreads}.
   *
   * @return true if virtual threads were asked for and the JDK has them
   */
  public boolean usesVirtualThreads() {
    return threads.virtual();
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
      if (!awaitConnectionRoom()) {
        return;
      }
      SocketChannel channel;
      try {
        channel = listener.accept();
        backoffMillis = 0;
      } catch (ClosedChannelException e) {
        // On a hand-over the SDK closes the listener itself (the successor takes every new connection)
        // just before the shutdown actions run: wait for the drain a moment, so that what this loop
        // accepted is answered or refused, rather than take the close for the loop's end.
        if (!awaitDrain(LISTENER_CLOSED_PATIENCE_NANOS)) {
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
      admit(channel);
    }
  }

  /** Waits while {@link Builder#maxConnections} are open; false once the loop has stopped. */
  private boolean awaitConnectionRoom() {
    lock.lock();
    try {
      while (connections >= maxConnections && state != STOPPED) {
        changed.awaitUninterruptibly();
      }
      return state != STOPPED;
    } finally {
      lock.unlock();
    }
  }

  private void admit(SocketChannel channel) {
    Connection c = new Connection(this, channel, connectionIds.incrementAndGet());
    // After the drain began, the connection is told at once, like an idle one (a fresh socket takes
    // a small frame without waiting): before it is counted if the drain began already, so that the
    // end cannot close it first; else the drain sees it among the open ones, or this does.
    boolean told = state != RUNNING && c.claimForRefusal() && writeQuietly(channel, refusedFrame());
    open.add(c);
    count(1, 0);
    meters.opened();
    Runnable task = c;
    if (state == RUNNING) {
      startWatch();
    } else {
      if (!told && c.claimForRefusal()) {
        told = writeQuietly(channel, refusedFrame());
      } else if (!told) {
        return; // the drain claimed it: it tells and closes it
      }
      if (!told || state == STOPPED) {
        c.close();
        return;
      }
      // Closed only once its first request is read (or at the end), so that the client's write of
      // that request does not meet a closed socket.
      task = new Runnable() {
        @Override
        public void run() {
          c.awaitFirstFrameAndClose();
        }
      };
    }
    if (!runOnNewThread(task)) {
      c.close();
    }
  }

  private static boolean writeQuietly(SocketChannel channel, ByteBuffer frame) {
    try {
      while (frame.hasRemaining()) {
        channel.write(frame);
      }
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Runs {@code task} on a connection thread; false if none can be had (the loop ended, no memory for one). */
  boolean runOnNewThread(Runnable task) {
    try {
      threads.execute(task);
      return true;
    } catch (RejectedExecutionException e) {
      return false;
    } catch (OutOfMemoryError e) {
      // "unable to create native thread": this connection is dropped, the loop goes on
      Log.LOG.log(Level.WARNING, "the request loop on " + listener.endpoint() + " cannot start a thread: " + e);
      return false;
    }
  }

  // ---- requests -----------------------------------------------------------------------------

  /** A request waiting for a slot, or for the handler while warming. */
  private static final class Waiter {
    final Connection connection;
    /** Set under the loop's lock when a slot is given to this request. */
    boolean granted;

    Waiter(Connection connection) {
      this.connection = connection;
    }
  }

  private static final int RUN = 0;
  private static final int REFUSE = 1;
  private static final int WARMING = 2;
  private static final int DROP = 3;

  /**
   * Answers one request of {@code c} on the calling thread, the connection's: admission (a slot,
   * the handler, the drain), the handler, the answer. In flight from the start to the written answer.
   */
  void serve(Connection c, byte[] request) {
    long began = metered ? System.nanoTime() : 0L;
    Handler h = null;
    int outcome;
    lock.lock();
    try {
      countLocked(0, 1);
      if (state != RUNNING) {
        outcome = REFUSE;
      } else if (handler == null && warmup == WarmupPolicy.ANSWER_WARMING) {
        outcome = WARMING;
      } else if (handler != null && running < maxConcurrency && waiting.isEmpty()) {
        running++;
        h = handler;
        outcome = RUN;
      } else {
        Waiter w = new Waiter(c);
        waiting.add(w);
        while (true) {
          if (w.granted) {
            h = handler;
            outcome = RUN;
            break;
          }
          if (state != RUNNING || c.isClosed()) {
            waiting.remove(w);
            outcome = c.isClosed() ? DROP : REFUSE;
            break;
          }
          changed.awaitUninterruptibly();
        }
      }
    } finally {
      lock.unlock();
    }
    if (outcome != RUN) {
      if (outcome == REFUSE) {
        c.sendAndClose(refusedFrame());
      } else if (outcome == WARMING) {
        c.send(warmingFrame());
      }
      finish(false);
      if (metered) {
        meters.request(outcome == REFUSE ? DaemonMetrics.LoopMeters.REFUSED
            : outcome == WARMING ? DaemonMetrics.LoopMeters.WARMING : DaemonMetrics.LoopMeters.DROPPED,
            System.nanoTime() - began);
      }
      return;
    }
    Throwable fatal = null;
    int result = DaemonMetrics.LoopMeters.CANCELLED;
    try {
      if (c.startRunning()) {
        ByteBuffer reply;
        try {
          byte[] response = h.handle(request, new Task(c));
          result = response == null ? DaemonMetrics.LoopMeters.FAILED : DaemonMetrics.LoopMeters.OK;
          reply = response == null
              ? LoopFrames.text(LoopFrames.ERROR, h.getClass().getName() + ".handle returned null")
              : LoopFrames.frame(LoopFrames.RESPONSE, response);
        } catch (Throwable t) {
          result = DaemonMetrics.LoopMeters.FAILED;
          reply = LoopFrames.text(LoopFrames.ERROR, String.valueOf(t));
          if (t instanceof VirtualMachineError) {
            fatal = t;
          }
        } finally {
          c.stopRunning();
        }
        if (!c.isCancelled()) {
          c.send(reply);
        } else {
          result = DaemonMetrics.LoopMeters.CANCELLED;
        }
      }
    } finally {
      finish(true);
      if (metered) {
        meters.request(result, System.nanoTime() - began);
      }
    }
    if (fatal != null) {
      throw (Error) fatal;
    }
  }

  /** A request is answered (or dropped): its slot, if it had one, goes to the next in line. */
  private void finish(boolean hadSlot) {
    lock.lock();
    try {
      if (hadSlot) {
        running--;
        grantLocked();
      }
      countLocked(0, -1);
    } finally {
      lock.unlock();
    }
  }

  /** Gives free slots to waiting requests, first come first served, once the handler is there. */
  private void grantLocked() {
    boolean any = false;
    while (handler != null && state == RUNNING && running < maxConcurrency && !waiting.isEmpty()) {
      Waiter w = waiting.poll();
      if (w.connection.isClosed()) {
        continue; // its thread sees the close and drops it
      }
      w.granted = true;
      running++;
      any = true;
    }
    if (any) {
      changed.signalAll();
    }
  }

  /** What a handler sees of its request: the {@link RequestContext}. */
  private static final class Task implements RequestContext {
    private final Connection connection;

    Task(Connection connection) {
      this.connection = connection;
    }

    @Override
    public OptionalLong peerPid() {
      long pid = connection.credentials()[0];
      return pid > 0 ? OptionalLong.of(pid) : OptionalLong.empty();
    }

    @Override
    public OptionalLong peerUid() {
      long uid = connection.credentials()[1];
      return uid >= 0 ? OptionalLong.of(uid) : OptionalLong.empty();
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

  /** A helper was sent to read in place of an away connection thread. */
  void helperSent() {
    helpers.incrementAndGet();
  }

  /** How many helpers were sent so far. */
  long helpersSent() {
    return helpers.get();
  }

  boolean isRunning() {
    return state == RUNNING;
  }

  int maxPayloadBytes() {
    return maxPayloadBytes;
  }

  ByteBuffer refusedFrame() {
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

  // ---- the watch thread ---------------------------------------------------------------------

  private void startWatch() {
    lock.lock();
    try {
      if (watchStarted) {
        return;
      }
      watchStarted = true;
    } finally {
      lock.unlock();
    }
    watch.start();
  }

  /**
   * A connection's thread has just gone away from its socket (with a request): wakes the watch thread
   * if it would otherwise look too late. Costs a volatile read when the watch thread is already due.
   */
  void watchAway() {
    long due = System.nanoTime() + AWAY_NANOS;
    long wake = watchWakeAt;
    if (wake == UNPLANNED || due - wake < 0) {
      LockSupport.unpark(watch);
    }
  }

  /**
   * Sends helpers to connections whose thread has been away for {@link #AWAY_NANOS}. Sleeps until
   * the earliest such moment; while nothing is away it looks once per period for a while (1 s), so
   * that the requests of that while never need to wake it, and then waits to be woken: a daemon
   * without requests has it asleep, and one with a request a second or more pays one wake-up each.
   */
  private void watchLoop() {
    int quiet = 0;
    while (state != STOPPED) {
      watchWakeAt = UNPLANNED; // a connection going away while we look wakes us: one more round at worst
      long now = System.nanoTime();
      long next = UNPLANNED;
      for (Connection c : open) {
        long due = c.helperDue(AWAY_NANOS);
        if (due == Long.MAX_VALUE) {
          continue;
        }
        if (due - now <= 0) {
          c.sendHelperIfAway(AWAY_NANOS, now);
        } else if (next == UNPLANNED || due - next < 0) {
          next = due;
        }
      }
      if (next != UNPLANNED) {
        quiet = 0;
      } else if (quiet < QUIET_ROUNDS) {
        quiet++;
        next = now + AWAY_NANOS;
      }
      watchWakeAt = next;
      if (next == UNPLANNED) {
        LockSupport.park(this);
        quiet = 0; // woken by a request after a quiet spell: look once per period again for a while
      } else {
        LockSupport.parkNanos(this, next - now);
      }
    }
  }

  // ---- drain and end ------------------------------------------------------------------------

  /** How long a loop whose listener was closed waits for a drain before it ends on its own. */
  private static final long LISTENER_CLOSED_PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(1);

  /** Waits up to {@code nanos} for the loop to leave RUNNING (a drain began, or it ended); true if it did. */
  private boolean awaitDrain(long nanos) {
    lock.lock();
    try {
      long left = nanos;
      while (state == RUNNING && left > 0) {
        left = changed.awaitNanos(left);
      }
      return state != RUNNING;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return state != RUNNING;
    } finally {
      lock.unlock();
    }
  }

  /** How long the drain waits past its grace for the refusals to idle connections to be written. */
  private static final long TELL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  /**
   * The shutdown action: refuse what is not running, wait up to the grace period for what is, then
   * stop. Runs on the SDK's shutdown thread; idempotent.
   */
  void drain() {
    lock.lock();
    try {
      if (state != RUNNING) {
        return;
      }
      state = DRAINING;
      changed.signalAll(); // waiting requests refuse themselves
    } finally {
      lock.unlock();
    }
    ByteBuffer refusal = refusedFrame();
    List<Connection> idle = new ArrayList<>();
    for (Connection c : open) {
      if (c.claimIfIdle()) {
        idle.add(c);
      }
    }
    // end() below closes every connection, so it waits for the refusals: one still being written
    // when its connection was closed would be lost, and its client would see a bare close.
    CountDownLatch told = new CountDownLatch(idle.size());
    for (Connection c : idle) {
      // Not on this thread: a client that reads nothing could block the write, and so the drain.
      Runnable tell = new Runnable() {
        @Override
        public void run() {
          try {
            c.sendAndClose(refusal.duplicate());
          } finally {
            told.countDown();
          }
        }
      };
      if (!runOnNewThread(tell)) {
        c.close();
        told.countDown();
      }
    }
    long deadline = System.nanoTime() + saturatedNanos(drainGrace);
    boolean interrupted = false;
    lock.lock();
    try {
      while (inFlight > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          break;
        }
        try {
          changed.awaitNanos(left);
        } catch (InterruptedException e) {
          interrupted = true;
          break;
        }
      }
      if (inFlight > 0) {
        Log.LOG.log(Level.WARNING, "the request loop on " + listener.endpoint() + " cut off " + inFlight
            + " request(s) still running after its drain grace of " + drainGrace.toMillis() + " ms");
      }
    } finally {
      lock.unlock();
    }
    try {
      // A refusal is a few bytes into an empty socket buffer: microseconds. Within the grace, or
      // briefly past it (a zero grace cuts off requests, not the notice to idle clients).
      told.await(Math.max(deadline - System.nanoTime(), TELL_NANOS), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      interrupted = true;
    }
    end("the daemon was asked to shut down and its requests were drained");
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops the loop for {@code why}: connections closed, their handlers interrupted. Once. */
  private void end(String why) {
    lock.lock();
    try {
      if (state == STOPPED) {
        return;
      }
      state = STOPPED;
      endReason = why;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (Connection c : open) {
      c.close(); // interrupts a handler still running: its answer can no longer be written
    }
    threads.shutdown();
    LockSupport.unpark(watch);
    ended.countDown();
  }

  /** Adjusts the activity counts; marks the moment the loop turns busy or idle. */
  private void count(int connectionDelta, int inFlightDelta) {
    lock.lock();
    try {
      countLocked(connectionDelta, inFlightDelta);
    } finally {
      lock.unlock();
    }
  }

  private void countLocked(int connectionDelta, int inFlightDelta) {
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
    if ((inFlightDelta < 0 && inFlight == 0 && state == DRAINING) || connectionDelta < 0) {
      changed.signalAll(); // the drain waits for the first, the acceptor and waiting requests for the second
    }
  }

  /** {@code c} is closed: forget it and count it out. Called once per connection, from any thread. */
  void closed(Connection c) {
    open.remove(c);
    count(-1, 0);
    meters.closed();
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
