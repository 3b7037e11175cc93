package dev.fastbind.broker;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.wire.LoopFrames;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.loop.Codec;
import dev.fastbind.broker.internal.LogFiles;
import java.io.Closeable;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A client for a daemon served by the request loop ({@code dev.fastbind.backend.loop.RequestLoop}):
 * finds the daemon through {@link Broker#ensureRunning}, keeps its connections for the next call, and
 * turns every way a call can go wrong into one {@link DaemonCallException}.
 *
 * <pre>{@code
 * try (DaemonClient client = DaemonClient.create(Broker.create(), definition)) {
 *   String answer = client.call("get key", Codec.utf8());
 * }
 * }</pre>
 *
 * <p><b>A call.</b> Takes an idle connection or opens one, asking the broker first, which spawns the
 * daemon if it is not running; sends one request frame; waits for the answer. An idle connection
 * the daemon has closed meanwhile (a draining daemon refuses and closes its idle connections; a dead
 * one's are closed by the kernel) fails the first write, so it and the other idle ones are dropped
 * unused and the call goes on a new connection; a refusal the daemon sent but has not yet followed
 * with its close answers the call ({@link CallRefusedException}: the request did not run). The deadline covers connecting, sending and waiting; a spawn inside the call takes at most
 * the definition's probe budget on top. The connection goes back to the pool after an answer,
 * including a handler's failure or a warming refusal; after anything else it is closed.
 *
 * <p><b>A daemon that dies.</b> When the connection breaks during a call (reset, or closed before the
 * whole answer arrived) the call fails with {@link DaemonDiedException}, which names the daemon's pid,
 * whether that process is gone, what the broker sees now and the daemon's last log lines. Nothing is
 * retried then, since the daemon may have run the request. The next call asks the broker again and so
 * reaches a new daemon.
 *
 * <p><b>The one retry.</b> A call is resent by the client itself exactly when <em>no byte</em> of its
 * request was sent: the connect failed (the daemon died between the broker's answer and the connect),
 * or writing the first bytes failed on a connection the daemon had already closed. Then the client
 * asks the broker again and tries once more on a new connection, so no request ever reaches a daemon
 * twice. Once any byte was written, a failure is the caller's to handle; {@link
 * DaemonCallException#mayHaveRun()} tells whether resending is safe, and a {@link RetryPolicy}
 * (given to {@link #create(DaemonBroker, ServiceDefinition, Duration, RetryPolicy)} or to one call)
 * makes the client try again for the caller: after a warming or shutting-down refusal, after a death
 * before the request arrived, and, for idempotent requests, after a death during the call.
 *
 * <p><b>Cancellation.</b> Interrupting the calling thread, the deadline passing, or {@link #close()}
 * ends the call at once and closes its connection: the daemon sees its client go, interrupts the
 * handler, and frees its slot.
 *
 * <p>Thread-safe: concurrent calls use separate connections. Only Unix-domain socket paths are
 * supported as endpoints (what the broker's definitions use).
 */
public final class DaemonClient implements Closeable {

  /** The deadline of a call that names none: 30 s. */
  public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(30);
  /** The largest answer payload the client reads: 64 MiB. A larger one is a protocol violation. */
  public static final int MAX_RESPONSE_BYTES = 64 << 20;
  /** How many idle connections are kept for reuse. */
  static final int MAX_IDLE = 4;
  /** How long a failure's examination waits for a dying daemon's process to be gone. */
  private static final long EXIT_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

  private final Target target;
  private final ServiceDefinition definition;
  private final Duration defaultDeadline;
  private final RetryPolicy defaultRetry;
  private final Object lock = new Object();
  private final ArrayDeque<Connection> idle = new ArrayDeque<>();
  private final Set<Connection> inUse = new HashSet<>();
  private boolean closed;
  private volatile DaemonInfo lastDaemon;

  private DaemonClient(Target target, ServiceDefinition definition, Duration defaultDeadline,
      RetryPolicy defaultRetry) {
    this.target = target;
    this.definition = definition;
    this.defaultDeadline = defaultDeadline;
    this.defaultRetry = defaultRetry;
  }

  /**
   * A client for {@code definition}'s daemon, with the default deadline of 30 s per call.
   *
   * @param broker the broker to find or start the daemon with
   * @param definition the daemon's service
   * @return a new client; it connects on its first call
   */
  public static DaemonClient create(DaemonBroker broker, ServiceDefinition definition) {
    return create(broker, definition, DEFAULT_DEADLINE);
  }

  /**
   * A client for {@code definition}'s daemon.
   *
   * @param broker the broker to find or start the daemon with
   * @param definition the daemon's service
   * @param defaultDeadline the deadline of calls that name none; positive
   * @return a new client; it connects on its first call
   * @throws IllegalArgumentException if the deadline is not positive
   */
  public static DaemonClient create(DaemonBroker broker, ServiceDefinition definition, Duration defaultDeadline) {
    return create(broker, definition, defaultDeadline, RetryPolicy.none());
  }

  /**
   * A client for {@code definition}'s daemon whose calls retry by {@code defaultRetry} unless a call
   * names a policy of its own.
   *
   * @param broker the broker to find or start the daemon with
   * @param definition the daemon's service
   * @param defaultDeadline the deadline of calls that name none; positive; it covers every attempt
   * @param defaultRetry the retry policy of calls that name none ({@link RetryPolicy#none()} for none)
   * @return a new client; it connects on its first call
   * @throws IllegalArgumentException if the deadline is not positive
   */
  public static DaemonClient create(DaemonBroker broker, ServiceDefinition definition, Duration defaultDeadline,
      RetryPolicy defaultRetry) {
    Objects.requireNonNull(broker, "broker");
    Objects.requireNonNull(definition, "definition");
    Objects.requireNonNull(defaultRetry, "defaultRetry");
    return new DaemonClient(new BrokeredTarget(broker, definition), definition, positive(defaultDeadline),
        defaultRetry);
  }

  /** A client of one private worker ({@link WorkerPool}), which finds its daemon through {@code target}. */
  static DaemonClient create(Target target, ServiceDefinition definition, Duration defaultDeadline) {
    return new DaemonClient(target, definition, positive(defaultDeadline), RetryPolicy.none());
  }

  /**
   * Where the client finds its daemon, and what it asks when a call breaks: the broker for a shared
   * daemon, the pool's supervisor for a private worker.
   */
  interface Target {
    /** The daemon to connect to now; starts it when needed. */
    DaemonInfo ensureRunning() throws IOException;

    /** What is known now, for a death report. */
    ServiceStatus status() throws IOException;

    /** The last death record, if any. */
    Optional<DeathRecord> lastDeath() throws IOException;

    /** The daemon's log, or null when it has none (an in-process backend). */
    Path log() throws IOException;

    /** What the next call does after a death, for the death report. */
    default String nextCall() {
      return "the next call asks the broker again, which starts a new daemon if this one is gone";
    }
  }

  /** The broker's view of {@code definition}'s shared daemon. */
  private record BrokeredTarget(DaemonBroker broker, ServiceDefinition definition) implements Target {
    @Override
    public DaemonInfo ensureRunning() throws IOException {
      return broker.ensureRunning(definition);
    }

    @Override
    public ServiceStatus status() throws IOException {
      return broker.status(definition);
    }

    @Override
    public Optional<DeathRecord> lastDeath() throws IOException {
      return broker.lastDeath(definition);
    }

    @Override
    public Path log() throws IOException {
      if (definition.inProcessBackend().isPresent()) {
        return null; // it has no log; the shared directory's would be another daemon's
      }
      return ServiceLayout.of(definition.name(), Broker.runtimeDirectory(definition)).log();
    }
  }

  /**
   * Sends {@code request} and returns the answer, within the default deadline.
   *
   * @param request the request payload
   * @return the answer payload
   * @throws DaemonCallException when the call did not return an answer (see the family)
   * @throws BrokerException when the broker could not find or start the daemon
   * @throws IOException for other failures of the runtime files
   */
  public byte[] call(byte[] request) throws IOException {
    return call(request, defaultDeadline, defaultRetry);
  }

  /**
   * Sends {@code request} and returns the answer.
   *
   * @param request the request payload, not modified
   * @param deadline how long the call may take, connecting included; positive
   * @return the answer payload
   * @throws DaemonCallException when the call did not return an answer (see the family)
   * @throws BrokerException when the broker could not find or start the daemon
   * @throws IOException for other failures of the runtime files
   */
  public byte[] call(byte[] request, Duration deadline) throws IOException {
    return call(request, deadline, defaultRetry);
  }

  /**
   * Sends {@code request} and returns the answer, trying again after a failure as {@code retry} says.
   *
   * @param request the request payload, not modified
   * @param deadline how long the call may take, every attempt and pause included; positive
   * @param retry which failures are tried again, how often, after which pauses
   * @return the answer payload of the attempt that succeeded
   * @throws DaemonCallException the last attempt's failure (the first attempt's attached as
   *     suppressed when there were several), or {@link CallCancelledException} for an interrupt
   *     during a pause
   * @throws BrokerException when the broker could not find or start the daemon (never retried)
   * @throws IOException for other failures of the runtime files
   */
  public byte[] call(byte[] request, Duration deadline, RetryPolicy retry) throws IOException {
    Objects.requireNonNull(request, "request");
    Objects.requireNonNull(retry, "retry");
    Call call = new Call(positive(deadline));
    ByteBuffer frame = LoopFrames.frame(LoopFrames.REQUEST, request);
    DaemonCallException first = null;
    boolean mayHaveRun = false;
    for (int attempt = 1; ; attempt++) {
      try {
        return attempt(frame, call);
      } catch (DaemonCallException e) {
        mayHaveRun |= e.mayHaveRun();
        long pause = attempt < retry.maxAttempts() && retry.retries(e) ? retry.pauseNanos(attempt) : -1;
        if (pause < 0 || pause >= call.remainingNanos()) {
          throw lastOf(e, first, mayHaveRun);
        }
        if (first == null) {
          first = e;
        }
        pause(pause, e, first, mayHaveRun);
      }
    }
  }

  /** A retried call's last failure, as thrown: the first attached, and whether any attempt may have run. */
  private static DaemonCallException lastOf(DaemonCallException last, DaemonCallException first, boolean mayHaveRun) {
    if (first != null && first != last) {
      last.addSuppressed(first);
    }
    if (mayHaveRun && !last.mayHaveRun()) {
      last.earlierAttemptMayHaveRun();
    }
    return last;
  }

  /**
   * Waits between two attempts. An interrupt ends the call, keeping the thread's interrupt status;
   * {@link #close()} ends it too, at once (it wakes the wait).
   */
  private void pause(long nanos, DaemonCallException last, DaemonCallException first, boolean mayHaveRun)
      throws CallCancelledException {
    long end = System.nanoTime() + nanos;
    boolean interrupted = false;
    boolean closedMeanwhile;
    synchronized (lock) {
      try {
        for (long left = nanos; !closed && left > 0; left = end - System.nanoTime()) {
          TimeUnit.NANOSECONDS.timedWait(lock, left);
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
      closedMeanwhile = closed;
    }
    if (!interrupted && !closedMeanwhile) {
      return;
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    CallCancelledException cancelled = new CallCancelledException("daemon '" + definition.name() + "': the call "
        + (interrupted ? "was interrupted" : "ended as its client was closed") + " while it waited to try again after: "
        + last.getMessage(), definition.name(), last.pid().orElse(-1), mayHaveRun, interrupted);
    cancelled.addSuppressed(first);
    throw cancelled;
  }

  /** One attempt of a call: the client's own resend of a request none of which was sent included. */
  private byte[] attempt(ByteBuffer frame, Call call) throws IOException {
    boolean resent = false;
    boolean staleDropped = false;
    while (true) {
      Connection c = acquire(call, resent);
      frame.rewind();
      try {
        byte[] answer = c.exchange(frame, call);
        release(c);
        return answer;
      } catch (NothingSent e) {
        discard(c);
        if (c.reused && !staleDropped) {
          // The daemon closed this idle connection (it drained, or died), and so its other idle ones:
          // they go unused, and the call goes on a new connection without spending its one retry.
          staleDropped = true;
          dropIdle();
          continue;
        }
        if (resent) {
          throw died(c.daemon, call, "writing the request failed before any byte of it was sent, twice ("
              + e.getCause() + ")", false, e.getCause());
        }
        resent = true;
      } catch (IOException | RuntimeException | Error e) {
        if (c.reusable()) {
          release(c); // a handler's failure or a warming answer: the connection is as good as after an answer
        } else {
          discard(c);
        }
        throw e;
      }
    }
  }

  /**
   * Sends {@code request} and decodes the answer, both with {@code codec}, within the default deadline.
   *
   * @param request the request
   * @param codec encodes the request and decodes the answer
   * @param <T> the type of requests and answers
   * @return the decoded answer
   * @throws IOException as {@link #call(byte[], Duration)} throws, or the codec's own
   */
  public <T> T call(T request, Codec<T> codec) throws IOException {
    return call(request, codec, codec, defaultDeadline, defaultRetry);
  }

  /**
   * Sends {@code request} encoded with {@code requests} and decodes the answer with {@code responses}.
   *
   * @param request the request
   * @param requests encodes the request, as the daemon's handler decodes it
   * @param responses decodes the answer, as the daemon's handler encodes it
   * @param deadline how long the call may take; positive
   * @param <Q> the request type
   * @param <R> the answer type
   * @return the decoded answer
   * @throws IOException as {@link #call(byte[], Duration)} throws, or the codecs' own
   */
  public <Q, R> R call(Q request, Codec<Q> requests, Codec<R> responses, Duration deadline) throws IOException {
    return call(request, requests, responses, deadline, defaultRetry);
  }

  /**
   * Sends {@code request} encoded with {@code requests}, decodes the answer with {@code responses},
   * and tries again after a failure as {@code retry} says.
   *
   * @param request the request
   * @param requests encodes the request, as the daemon's handler decodes it
   * @param responses decodes the answer, as the daemon's handler encodes it
   * @param deadline how long the call may take, every attempt and pause included; positive
   * @param retry which failures are tried again, how often, after which pauses
   * @param <Q> the request type
   * @param <R> the answer type
   * @return the decoded answer
   * @throws IOException as {@link #call(byte[], Duration, RetryPolicy)} throws, or the codecs' own
   */
  public <Q, R> R call(Q request, Codec<Q> requests, Codec<R> responses, Duration deadline, RetryPolicy retry)
      throws IOException {
    Objects.requireNonNull(requests, "requests");
    Objects.requireNonNull(responses, "responses");
    return responses.decode(call(requests.encode(request), deadline, retry));
  }

  /**
   * The daemon the client last connected to.
   *
   * @return what {@link Broker#ensureRunning} returned for the newest connection, or empty before the
   *     first
   */
  public Optional<DaemonInfo> lastDaemon() {
    return Optional.ofNullable(lastDaemon);
  }

  /**
   * Closes every connection; calls under way end with {@link CallCancelledException}, later calls
   * fail the same way. The daemon keeps running. Idempotent.
   */
  @Override
  public void close() {
    // Copied by hand: ArrayDeque's copy constructor and addAll go through a method reference, a lambda
    // class a launcher JVM would spin at run time on its way out.
    java.util.ArrayList<Connection> all = new java.util.ArrayList<>(MAX_IDLE + 4);
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      lock.notifyAll(); // a call waiting between two attempts ends now
      for (Connection c : idle) {
        all.add(c);
      }
      for (Connection c : inUse) {
        all.add(c);
      }
      idle.clear();
    }
    for (Connection c : all) {
      c.abort();
    }
  }

  @Override
  public String toString() {
    return "DaemonClient[" + definition.name() + "]";
  }

  // ---- connections --------------------------------------------------------------------------

  /**
   * The most recently used idle connection, or a new one (asking the broker first). An idle
   * connection is not checked first: that would cost every call a read that must not wait, and so
   * two switches of the channel's blocking mode. A connection the daemon has closed meanwhile
   * fails the request's first write instead ({@link NothingSent}), and a refusal it left waiting
   * answers the request.
   */
  private Connection acquire(Call call, boolean resent) throws IOException {
    synchronized (lock) {
      if (closed) {
        throw new CallCancelledException("the client of '" + definition.name() + "' is closed", definition.name(),
            -1, false, false);
      }
      Connection c = idle.pollFirst();
      if (c != null) {
        inUse.add(c);
        return c;
      }
    }
    boolean retried = resent;
    while (true) {
      DaemonInfo info = target.ensureRunning();
      lastDaemon = info;
      try {
        Connection c = Connection.open(info, call, this);
        synchronized (lock) {
          if (closed) {
            c.abort();
            throw new CallCancelledException("the client of '" + definition.name() + "' was closed during the call",
                definition.name(), info.pid(), false, false);
          }
          inUse.add(c);
        }
        return c;
      } catch (DaemonCallException e) {
        throw e;
      } catch (IOException e) {
        if (retried) {
          throw died(info, call, "connecting to " + info.endpoint() + " failed (" + e.getMessage()
              + ") right after the broker found the daemon, twice", false, e);
        }
        retried = true;
      }
    }
  }

  private void release(Connection c) {
    boolean keep;
    synchronized (lock) {
      inUse.remove(c);
      keep = !closed && c.reusable() && idle.size() < MAX_IDLE;
      if (keep) {
        c.reused = true;
        idle.addFirst(c);
      }
    }
    if (!keep) {
      c.abort();
    }
  }

  /** Closes every idle connection. */
  private void dropIdle() {
    java.util.ArrayList<Connection> all = new java.util.ArrayList<>(MAX_IDLE);
    synchronized (lock) {
      for (Connection c : idle) {
        all.add(c);
      }
      idle.clear();
    }
    for (Connection c : all) {
      c.abort();
    }
  }

  private void discard(Connection c) {
    synchronized (lock) {
      inUse.remove(c);
    }
    c.abort();
  }

  boolean isClosed() {
    synchronized (lock) {
      return closed;
    }
  }

  // ---- failures -----------------------------------------------------------------------------

  /** A death report: what is known about {@code info}'s daemon right after its connection broke. */
  DaemonDiedException died(DaemonInfo info, Call call, String what, boolean mayHaveRun, Throwable cause) {
    long pid = info.pid();
    boolean gone = awaitGone(pid);
    String view;
    try {
      view = describe(target.status());
    } catch (IOException | RuntimeException e) {
      view = "status failed: " + e.getMessage();
    }
    String ending = "";
    try {
      Optional<DeathRecord> death = target.lastDeath();
      if (death.isPresent() && death.get().instanceId().equals(info.instanceId())) {
        ending = "; how it ended: " + death.get().summary();
      }
    } catch (IOException | RuntimeException e) {
      ending = "; its death record could not be read: " + e.getMessage();
    }
    String tail;
    Path log;
    try {
      log = target.log();
      tail = log == null ? "" : LogFiles.tail(log, 0);
    } catch (IOException e) {
      log = null;
      tail = "";
    }
    String message = "daemon '" + definition.name() + "' (pid " + pid + ", instance "
        + shortId(info.instanceId()) + ") died during the call: " + what + ", " + call.elapsedMillis()
        + " ms into the call; " + (mayHaveRun ? "the request may have run" : "the request did not run")
        + "; pid " + pid + (gone ? " is gone" : " still runs") + ending + "; the broker sees: " + view
        + "; " + target.nextCall()
        + (tail.isEmpty() ? "" : "; last lines of " + log + ":\n" + tail);
    return new DaemonDiedException(message, definition.name(), pid, mayHaveRun, gone, view, tail, cause);
  }

  /**
   * Whether {@code pid} has exited, allowing a dying process a moment: the kernel resets its
   * connections while it tears down its descriptors, just before the process becomes a zombie.
   */
  private static boolean awaitGone(long pid) {
    if (pid == ProcessIdentity.currentPid()) {
      return false; // an in-process backend: this JVM runs on
    }
    long start = System.nanoTime();
    long pause = 1_000_000;
    while (true) {
      if (ProcessIdentity.startTime(pid).isEmpty()) {
        return true;
      }
      long left = EXIT_WAIT_NANOS - (System.nanoTime() - start);
      if (left <= 0) {
        return false;
      }
      // No event announces another process's exit to a non-parent: a short, bounded, growing pause.
      LockSupport.parkNanos(Math.min(pause, left));
      pause = Math.min(pause * 2, 50_000_000);
    }
  }

  private static String describe(ServiceStatus s) {
    if (s instanceof ServiceStatus.Running r) {
      return "running, pid " + r.daemon().pid() + " (instance " + shortId(r.daemon().instanceId()) + ")"
          + (r.ready() ? "" : ", warming " + r.progressPercent() + "%");
    } else if (s instanceof ServiceStatus.Unresponsive u) {
      return "unresponsive, pid " + u.pid() + ": " + u.detail();
    } else if (s instanceof ServiceStatus.Stale st) {
      return "stale (" + st.reason() + "): " + st.detail();
    } else if (s instanceof ServiceStatus.Untrusted ut) {
      return "untrusted (" + ut.kind() + "): " + ut.detail();
    }
    return "no daemon";
  }

  private static String shortId(String id) {
    return id.length() > 8 ? id.substring(0, 8) : id;
  }

  private static Duration positive(Duration d) {
    Objects.requireNonNull(d, "deadline");
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException("the deadline must be positive, got " + d);
    }
    return d;
  }

  String service() {
    return definition.name();
  }

  /** Writing failed before any byte of the request was sent: the one case the client resends. */
  static final class NothingSent extends IOException {
    private static final long serialVersionUID = 1L;

    NothingSent(IOException cause) {
      super(cause);
    }
  }

  /** One call's monotonic deadline. */
  static final class Call {
    final Duration deadline;
    final long startNanos = System.nanoTime();
    final long timeoutNanos;

    Call(Duration deadline) {
      this.deadline = deadline;
      long n;
      try {
        n = deadline.toNanos();
      } catch (ArithmeticException e) {
        n = Long.MAX_VALUE / 2;
      }
      this.timeoutNanos = n;
    }

    long remainingNanos() {
      return timeoutNanos - (System.nanoTime() - startNanos); // overflow-safe difference
    }

    long elapsedMillis() {
      return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }
  }

  /**
   * One connection to one daemon, in blocking mode: a call writes and then waits in a plain read,
   * which the kernel wakes when the answer arrives. {@link CallDeadlines} closes it if the call's
   * deadline passes first; an interrupt closes it too (the channel is interruptible), and so does
   * {@link DaemonClient#close()}. Each of those wakes the waiting thread, and the reason is told
   * apart afterwards.
   */
  static final class Connection implements CallDeadlines.Expiring {
    private static final VarHandle DEADLINE;

    static {
      try {
        DEADLINE = MethodHandles.lookup().findVarHandle(Connection.class, "deadline", long.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    final DaemonInfo daemon;
    private final DaemonClient client;
    private final SocketChannel channel;
    private final ByteBuffer header = ByteBuffer.allocate(LoopFrames.HEADER_BYTES);
    /** The deadline of the call under way, or {@link CallDeadlines#NONE}; set by the caller, cleared by either. */
    @SuppressWarnings("unused") // through DEADLINE
    private volatile long deadline = CallDeadlines.NONE;
    /** Set before {@link CallDeadlines} closes the channel for a passed deadline. */
    private volatile boolean timedOut;
    private boolean reusable;
    /** Back from the pool: it was idle, and the daemon may have closed it meanwhile. Guarded by the client's lock. */
    boolean reused;

    private Connection(DaemonInfo daemon, DaemonClient client, SocketChannel channel) {
      this.daemon = daemon;
      this.client = client;
      this.channel = channel;
    }

    static Connection open(DaemonInfo info, Call call, DaemonClient client) throws IOException {
      Endpoint endpoint = info.endpoint();
      if (endpoint.path().isEmpty()) {
        throw new IOException("DaemonClient connects to socket paths only, and " + info.service()
            + "'s endpoint is " + endpoint + ": give the service a socket path");
      }
      SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
      Connection c = new Connection(info, client, ch);
      CallDeadlines.get().add(c);
      try {
        c.arm(call, false, "the connection");
        try {
          ch.connect(UnixDomainSocketAddress.of(endpoint.path().get())); // waits while the daemon's backlog is full
        } catch (ClosedChannelException e) {
          throw c.whyClosed(call, false, "the connection");
        } finally {
          c.disarm();
        }
        return c;
      } catch (IOException | RuntimeException e) {
        c.abort();
        throw e;
      }
    }

    /** Writes {@code frame} and reads the answer; the connection is reusable afterwards only if it says so. */
    byte[] exchange(ByteBuffer frame, Call call) throws IOException {
      reusable = false;
      int total = frame.remaining();
      arm(call, false, "room to send the request");
      try {
        try {
          while (frame.hasRemaining()) {
            channel.write(frame);
          }
        } catch (ClosedChannelException e) { // closed by an interrupt, the deadline or the client's close
          throw whyClosed(call, frame.remaining() < total, "room to send the request");
        } catch (IOException e) {
          int sent = total - frame.remaining();
          if (sent == 0) {
            throw new NothingSent(e);
          }
          // The daemon may have answered before closing (TOO_LARGE, REFUSED): that answer says more.
          byte[] early = readWaitingReply(call);
          if (early != null) {
            return early;
          }
          throw client.died(daemon, call, "the connection broke after " + sent + " of " + total
              + " bytes of the request were sent (" + e.getMessage() + ")", true, e);
        }
        return readReply(call);
      } finally {
        disarm();
      }
    }

    /** After a failed write: a whole reply already waiting on the socket, interpreted, or null. */
    private byte[] readWaitingReply(Call call) throws IOException {
      header.clear();
      try {
        // The daemon has closed its end, so these reads find what it left, or the end, without waiting.
        channel.read(header);
        if (header.hasRemaining()) {
          return null;
        }
        long length = LoopFrames.payloadLength(header);
        if (length > MAX_RESPONSE_BYTES) {
          return null;
        }
        ByteBuffer body = ByteBuffer.allocate((int) length);
        channel.read(body);
        if (body.hasRemaining()) {
          return null;
        }
        return interpret(LoopFrames.kind(header), body.array(), call);
      } catch (DaemonCallException e) {
        throw e;
      } catch (IOException e) {
        return null;
      }
    }

    private byte[] readReply(Call call) throws IOException {
      header.clear();
      ByteBuffer body = null;
      try {
        while (true) {
          ByteBuffer target = body == null ? header : body;
          if (channel.read(target) < 0) {
            throw client.died(daemon, call, "the daemon closed the connection " + (body == null && header.position() == 0
                ? "before answering" : "in the middle of its answer"), true, null);
          }
          if (target.hasRemaining()) {
            continue;
          }
          if (body == null) {
            long length = LoopFrames.payloadLength(header);
            if (length > MAX_RESPONSE_BYTES) {
              throw violation(call, "the daemon announced an answer of " + length + " bytes, more than the "
                  + MAX_RESPONSE_BYTES + " a DaemonClient reads");
            }
            body = ByteBuffer.allocate((int) length);
            continue;
          }
          return interpret(LoopFrames.kind(header), body.array(), call);
        }
      } catch (DaemonCallException e) {
        throw e;
      } catch (ClosedChannelException e) {
        throw whyClosed(call, true, "the answer");
      } catch (IOException e) {
        if (client.isClosed()) {
          throw new CallCancelledException("the client of '" + client.service() + "' was closed during the call",
              client.service(), daemon.pid(), true, false);
        }
        throw client.died(daemon, call, "the connection broke while waiting for the answer (" + e.getMessage() + ")",
            true, e);
      }
    }

    private byte[] interpret(byte kind, byte[] payload, Call call) throws IOException {
      String service = client.service();
      long pid = daemon.pid();
      String who = "daemon '" + service + "' (pid " + pid + ")";
      switch (kind) {
        case LoopFrames.RESPONSE:
          reusable = true;
          return payload;
        case LoopFrames.ERROR:
          reusable = true;
          throw new CallFailedException(who + " failed the request: " + LoopFrames.text(payload), service, pid,
              LoopFrames.text(payload), false);
        case LoopFrames.WARMING: {
          reusable = true;
          int percent = LoopFrames.warmingPercent(payload);
          String phase = LoopFrames.warmingPhase(payload);
          throw new CallRefusedException(who + " is still warming up (" + percent + "%" + (phase.isEmpty() ? ""
              : ", " + phase) + ") and did not run the request: ask again later", service, pid,
              CallRefusedException.Reason.WARMING, phase, percent, -1);
        }
        case LoopFrames.REFUSED:
          throw new CallRefusedException(who + " refused the request: " + LoopFrames.text(payload), service, pid,
              CallRefusedException.Reason.SHUTTING_DOWN, LoopFrames.text(payload), 0, -1);
        case LoopFrames.TOO_LARGE:
          throw new CallRefusedException(who + " refused the request as too large: "
              + LoopFrames.tooLargeText(payload), service, pid, CallRefusedException.Reason.TOO_LARGE,
              LoopFrames.tooLargeText(payload), 0, LoopFrames.tooLargeLimit(payload));
        case LoopFrames.MALFORMED:
          throw new CallRefusedException(who + " did not understand the request frame: " + LoopFrames.text(payload),
              service, pid, CallRefusedException.Reason.MALFORMED, LoopFrames.text(payload), 0, -1);
        default:
          throw violation(call, "the daemon answered with a frame of kind " + LoopFrames.kindName(kind)
              + ", which the request loop protocol " + LoopFrames.VERSION + " does not have");
      }
    }

    private CallFailedException violation(Call call, String what) {
      return new CallFailedException("daemon '" + client.service() + "' (pid " + daemon.pid() + ") at "
          + daemon.endpoint() + " answered outside the request loop protocol: " + what + "; is it served by"
          + " RequestLoop?", client.service(), daemon.pid(), "", true);
    }

    /**
     * Starts watching the call's deadline for waiting on {@code what}; fails at once if the thread is
     * interrupted, the client closed or the deadline already passed.
     */
    private void arm(Call call, boolean sent, String what) throws IOException {
      if (Thread.currentThread().isInterrupted()) {
        throw interrupted(call, sent, what);
      }
      if (client.isClosed()) {
        throw closedDuringCall(sent);
      }
      long remaining = call.remainingNanos();
      if (remaining <= 0) {
        throw timeout(call, sent, what);
      }
      long d = System.nanoTime() + remaining;
      deadline = d;
      CallDeadlines.get().started(d);
    }

    private void disarm() {
      deadline = CallDeadlines.NONE;
    }

    @Override
    public long deadline() {
      return deadline;
    }

    @Override
    public void expire(long due) {
      if (DEADLINE.compareAndSet(this, due, CallDeadlines.NONE)) {
        timedOut = true;
        closeChannel();
      }
    }

    /**
     * What closed the channel under a call: an interrupt (which leaves the thread's flag set), the
     * deadline, or the client's close. Only this side closes it; a daemon's close is an end of stream.
     */
    private DaemonCallException whyClosed(Call call, boolean sent, String what) {
      if (Thread.currentThread().isInterrupted()) {
        return interrupted(call, sent, what);
      }
      if (timedOut) {
        return timeout(call, sent, what);
      }
      return closedDuringCall(sent);
    }

    private CallCancelledException interrupted(Call call, boolean sent, String what) {
      return new CallCancelledException("the call to daemon '" + client.service() + "' (pid " + daemon.pid()
          + ") was interrupted while waiting for " + what + ", " + call.elapsedMillis()
          + " ms into the call; its connection was closed", client.service(), daemon.pid(), sent, true);
    }

    private CallTimeoutException timeout(Call call, boolean sent, String what) {
      return new CallTimeoutException("daemon '" + client.service() + "' (pid " + daemon.pid() + ") gave no "
          + what.replaceFirst("^the ", "") + " within the call's deadline of " + call.deadline.toMillis()
          + " ms; the connection was closed" + (sent ? ", so the daemon's handler is interrupted" : ""),
          client.service(), daemon.pid(), sent, call.deadline);
    }

    private CallCancelledException closedDuringCall(boolean sent) {
      return new CallCancelledException("the client of '" + client.service() + "' was closed during the call",
          client.service(), daemon.pid(), sent, false);
    }

    boolean reusable() {
      return reusable && channel.isOpen();
    }

    /** Closes the connection; a thread waiting on it wakes. Idempotent; any thread. */
    void abort() {
      CallDeadlines.get().remove(this);
      closeChannel();
    }

    private void closeChannel() {
      try {
        channel.close();
      } catch (IOException e) {
        // closing a connection that is already gone
      }
    }
  }
}
