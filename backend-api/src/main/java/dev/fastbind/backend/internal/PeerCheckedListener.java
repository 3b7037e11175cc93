package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.nio.file.attribute.UserPrincipal;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import jdk.net.ExtendedSocketOptions;

/**
 * What every {@link IpcListener} shares: an accept loop that hands the daemon only connections from
 * its own user, survives descriptor exhaustion, keeps its log bounded, the same peer check for stacks
 * that accept by themselves, and an idempotent close. Subclasses say how to find their socket's
 * descriptor and what else closing means (unlinking a socket file).
 *
 * <p><b>Descriptor exhaustion.</b> When {@code accept} fails because the process or the system is
 * out of descriptors ({@code EMFILE}, {@code ENFILE}) or of kernel memory ({@code ENOBUFS},
 * {@code ENOMEM}), the connection stays in the kernel's accept backlog, so {@link #accept()} waits
 * and tries again: 1 ms, doubling to at most {@value #MAX_BACKOFF_MILLIS} ms between attempts (no
 * spinning; {@link #close()} cuts the wait short), until a descriptor is free. The daemon's accept
 * loop never sees these errors, so descriptor pressure can slow a daemon but never end it.
 *
 * <p><b>Bounded log.</b> Rejected peers are logged through a {@link LogLimiter}, exhaustion on stderr
 * at the same rate: one full line per kind of event per 10 s, then one summary line with the count
 * left out.
 */
abstract class PeerCheckedListener implements IpcListener {
  /** Created on the first logged event, so that binding never initialises the logging framework. */
  private static final class Log {
    static final System.Logger LOG = System.getLogger(IpcListener.class.getName());
  }

  /** The JDK's provider, read once (JDK 17 takes a lock on every {@code SelectorProvider.provider()}). */
  private static final class JdkChannels {
    static final SelectorProvider PROVIDER = SelectorProvider.provider();
  }

  /** The longest wait between two accept attempts while descriptors are exhausted. */
  static final long MAX_BACKOFF_MILLIS = 100;
  /** How often exhaustion is reported: a compile-time constant, so reporting loads no other class. */
  private static final long EXHAUSTION_REPORT_NANOS = 10_000_000_000L;

  private final Endpoint endpoint;
  private final ServerSocketChannel channel;
  private final boolean inherited;
  private final AtomicLong rejected = new AtomicLong();
  private final AtomicLong exhausted = new AtomicLong();
  private final AtomicBoolean closed = new AtomicBoolean();
  /** Woken by close, so a backing-off accept ends at once. */
  private final Object closeSignal = new Object();
  /** Made on the first event worth logging: nothing of it on the bind path. */
  private volatile LogLimiter limiter;
  /** When exhaustion was last reported (System.nanoTime, 0 for never), and retries since; under closeSignal. */
  private long exhaustionLoggedAt;
  private long exhaustionSuppressed;

  PeerCheckedListener(Endpoint endpoint, ServerSocketChannel channel, boolean inherited) {
    this.endpoint = endpoint;
    this.channel = channel;
    this.inherited = inherited;
  }

  /**
   * Empty if {@code connection}'s peer runs as this process's user; otherwise a description of the
   * peer for the log ("user nobody", "uid 65534", "a peer whose credentials cannot be read (…)").
   * What precedes a parenthesis is the key the log's rate limit counts under.
   *
   * <p>Told by the connection's own kind, not the listener's: a JDK channel answers
   * {@code SO_PEERCRED}; any other (junixsocket's, from an abstract or adopted listener) is asked
   * through junixsocket, whose classes a JDK connection therefore never loads.
   */
  static Optional<String> foreignPeer(SocketChannel connection) {
    if (connection.provider() != JdkChannels.PROVIDER) {
      return Junix.foreignPeer(connection);
    }
    try {
      UserPrincipal peer = connection.getOption(ExtendedSocketOptions.SO_PEERCRED).user();
      return peer.equals(Peers.currentUser()) ? Optional.empty() : Optional.of("user " + peer.getName());
    } catch (IOException | UnsupportedOperationException e) {
      return Optional.of("a peer whose credentials cannot be read (" + e + ")");
    }
  }

  /**
   * A new descriptor for the listening socket (see {@link IpcListener#duplicateDescriptor()}); the
   * channel is open and already non-blocking.
   */
  abstract int duplicate(ServerSocketChannel channel) throws IOException;

  /**
   * Called once by {@link #close()} while the channel is still open and listening, then the channel
   * is closed. A socket file is unlinked here, before the close: while this listener listens no other
   * binder treats the file as dead, so the file at the path is still this listener's own when it is
   * checked and removed.
   */
  void beforeClose() throws IOException {}

  @Override
  public final Endpoint endpoint() {
    return endpoint;
  }

  @Override
  public final ServerSocketChannel channel() {
    return channel;
  }

  @Override
  public final int duplicateDescriptor() throws IOException {
    if (!channel.isOpen()) {
      throw new ClosedChannelException();
    }
    channel.configureBlocking(false);
    return duplicate(channel);
  }

  @Override
  public final boolean admit(SocketChannel connection) {
    Objects.requireNonNull(connection, "connection");
    Optional<String> foreign = foreignPeer(connection);
    if (foreign.isEmpty()) {
      return true;
    }
    rejected.incrementAndGet(); // counted before the close, so a peer that sees the close sees the count
    Listeners.closeQuietly(connection);
    logRejection(foreign.get());
    return false;
  }

  @Override
  public final boolean admit(UserPrincipal peer) {
    Objects.requireNonNull(peer, "peer");
    if (peer.equals(Peers.currentUser())) {
      return true;
    }
    reject("user " + peer.getName());
    return false;
  }

  @Override
  public final boolean admitUid(long uid) {
    if (uid == ProcessIdentity.currentUid()) {
      return true;
    }
    reject("uid " + uid);
    return false;
  }

  /** Counts and logs a refusal whose connection the caller's stack closes. */
  private void reject(String peer) {
    rejected.incrementAndGet();
    logRejection(peer);
  }

  @Override
  public final SocketChannel accept() throws IOException {
    long backoffMillis = 0;
    while (true) {
      SocketChannel connection;
      try {
        connection = channel.accept();
      } catch (ClosedChannelException e) {
        throw e;
      } catch (IOException e) {
        if (closed.get() || !isResourceExhaustion(e)) {
          throw e;
        }
        backoffMillis = backoffMillis == 0 ? 1 : Math.min(backoffMillis * 2, MAX_BACKOFF_MILLIS);
        logExhaustion(e);
        pause(backoffMillis);
        continue;
      }
      backoffMillis = 0;
      if (connection == null) {
        return null; // non-blocking (a selector's, a stack's): nothing of this user is waiting
      }
      if (admit(connection)) {
        connection.configureBlocking(true);
        return connection;
      }
    }
  }

  /** Whether {@code e} is a shortage that frees itself: out of descriptors or kernel memory. */
  static boolean isResourceExhaustion(IOException e) {
    String m = e.getMessage();
    return m != null && (m.contains("Too many open files") // EMFILE, and ENFILE "... in system"
        || m.contains("No buffer space available") // ENOBUFS
        || m.contains("Cannot allocate memory")); // ENOMEM
  }

  private void pause(long millis) throws IOException {
    synchronized (closeSignal) {
      if (closed.get()) {
        throw new ClosedChannelException();
      }
      try {
        closeSignal.wait(millis);
      } catch (InterruptedException e) {
        // What an interrupt in a blocked accept does to the JDK's channel: close it, keep the flag.
        Thread.currentThread().interrupt();
        close();
        throw new ClosedByInterruptException();
      }
    }
    if (closed.get()) {
      throw new ClosedChannelException();
    }
  }

  private LogLimiter limiter() {
    LogLimiter l = limiter;
    if (l == null) {
      synchronized (this) {
        l = limiter;
        if (l == null) {
          l = new LogLimiter();
          limiter = l;
        }
      }
    }
    return l;
  }

  private void logRejection(String peer) {
    int paren = peer.indexOf(" (");
    String who = paren < 0 ? peer : peer.substring(0, paren);
    LogLimiter.Verdict v = limiter().event("peer " + who);
    if (v.suppressed() > 0) {
      Log.LOG.log(System.Logger.Level.WARNING, rejectionSummary(v.suppressed(), who, v.windowSeconds()));
    }
    if (v.logThis()) {
      Log.LOG.log(System.Logger.Level.WARNING, "rejected a connection on " + endpoint + " from " + peer
          + ": only the daemon's own user may connect (further rejections are summarised every "
          + v.windowSeconds() + " s)");
    }
  }

  private String rejectionSummary(long count, String who, long seconds) {
    return "rejected " + count + " more connection" + (count == 1 ? "" : "s") + " on " + endpoint + " from "
        + (who.equals(LogLimiter.OTHER_KEY) ? "other peers" : who) + " in the last " + seconds + " s";
  }

  /**
   * Reports exhaustion on stderr, once per 10 s with a count of
   * the retries in between. Deliberately uses nothing but this class, {@code String} and
   * {@code System.err}: with no descriptor free, loading a class from a directory on the class path
   * or opening the logging configuration fails, and a {@code NoClassDefFoundError} here would end
   * the daemon this method exists to keep alive.
   */
  private void logExhaustion(IOException e) {
    long n = exhausted.incrementAndGet();
    long now = System.nanoTime();
    long suppressed;
    synchronized (closeSignal) {
      if (exhaustionLoggedAt != 0 && now - exhaustionLoggedAt < EXHAUSTION_REPORT_NANOS) {
        exhaustionSuppressed++;
        return;
      }
      suppressed = exhaustionSuppressed;
      exhaustionSuppressed = 0;
      exhaustionLoggedAt = now == 0 ? 1 : now;
    }
    if (suppressed > 0) {
      System.err.println("fastbind: accept on " + endpoint + " failed " + suppressed + " more times in the last "
          + EXHAUSTION_REPORT_NANOS / 1_000_000_000L + " s for lack of descriptors or memory, "
          + n + " times in all; still retrying");
    }
    System.err.println("fastbind: accept on " + endpoint + " failed: " + e.getMessage()
        + "; new connections wait in the backlog and accept is retried every " + MAX_BACKOFF_MILLIS
        + " ms at most: raise the daemon's descriptor limit (ulimit -n, systemd LimitNOFILE=) or find what"
        + " holds its descriptors (ls -l /proc/" + ProcessHandle.current().pid() + "/fd)");
  }

  @Override
  public final long rejectedPeers() {
    return rejected.get();
  }

  @Override
  public final boolean isInherited() {
    return inherited;
  }

  @Override
  public final boolean isOpen() {
    return channel.isOpen();
  }

  @Override
  public final void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      beforeClose();
    } finally {
      try {
        channel.close();
      } finally {
        synchronized (closeSignal) {
          closeSignal.notifyAll();
        }
        LogLimiter l = limiter;
        if (l != null) {
          for (LogLimiter.Summary s : l.drain()) {
            Log.LOG.log(System.Logger.Level.WARNING,
                rejectionSummary(s.suppressed(), s.key().substring(s.key().indexOf(' ') + 1), s.windowSeconds()));
          }
        }
      }
    }
  }

  @Override
  public final String toString() {
    return "IpcListener[" + endpoint + (inherited ? ", inherited" : "") + "]";
  }
}
