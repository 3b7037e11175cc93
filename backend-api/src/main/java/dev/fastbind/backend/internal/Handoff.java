package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.Escaping;
import java.io.Closeable;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.net.SocketTimeoutException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channel;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.AFUNIXSocketCredentials;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * The listener hand-off: how one listening socket passes, as a descriptor, from the process that
 * holds it to a daemon that has yet to serve it, without the socket ever closing in between.
 *
 * <p><b>Why not systemd's protocol.</b> A broker written in Java cannot place a descriptor at fd 3
 * of a child: {@link ProcessBuilder} closes every descriptor above 2 in the child, and fd 0 can only
 * be a pipe, a file opened by path (a socket cannot be) or the launcher's own stdin. So the child
 * takes the socket itself, over a rendezvous socket, with {@code SCM_RIGHTS}; the daemons the
 * broker did not build (a {@code command}) can do the same in a few lines of any language.
 *
 * <p><b>Protocol</b> (version {@value #VERSION}; see {@code docs/wire.md}). The giver binds a Unix
 * stream socket at the rendezvous path (in the owner-only runtime directory) and accepts a
 * connection only from the pid it expects, as its own user (peer credentials). The sender writes one
 * line, {@code FASTBIND-LISTENER 1 <endpoint>\n} (the endpoint escaped as on the control
 * protocol), with exactly one descriptor attached: the listening socket. The receiver checks that
 * the descriptor is a listening socket bound at the endpoint it expects and answers {@code OK\n}
 * (or {@code ERR <reason>\n}); only then may the sender close its copy. Either side gives up at its
 * deadline. The same exchange runs in both directions: the broker gives its freshly bound socket to
 * the daemon it spawned ({@link Rendezvous#give}), and a daemon being replaced offers its socket to
 * the broker ({@link #offer}, {@link Rendezvous#receive}), which gives it on to the successor.
 *
 * <p><b>Costs.</b> Only {@code SCM_RIGHTS} needs junixsocket, and so its native library, which
 * costs a fresh JVM 40 to 100 ms: this class is loaded only on a hand-off, never on a daemon's plain
 * way to readiness.
 */
public final class Handoff {

  /** The protocol's version, the second word of the header line. */
  public static final int VERSION = 1;

  private static final String MAGIC = "FASTBIND-LISTENER";
  private static final int MAX_LINE = 8 * 1024;
  private static final long POLL_MILLIS = 20;

  private Handoff() {}

  /**
   * Starts loading junixsocket (its classes and native library, what {@link #take} needs first) on a
   * thread of its own, so that the load overlaps the rest of the bootstrap instead of following it.
   * A daemon that is to take a listener calls it first thing; {@link #take} waits for the thread
   * before it touches junixsocket itself (two threads initialising junixsocket's classes in different
   * orders could deadlock), and a failure here is only reported there.
   */
  public static void prepareInBackground() {
    // A class, not a method reference: the first lambda would cost this JVM the lambda machinery's start.
    Thread t = new Thread(new Preparation(), "fastbind-handoff-prepare");
    t.setDaemon(true);
    preparing = t;
    t.start();
  }

  private static volatile Thread preparing;

  /** Waits (at most until {@code deadlineNanos}) for {@link #prepareInBackground}'s thread, if any. */
  private static void awaitPreparation(long deadlineNanos) throws IOException {
    Thread t = preparing;
    if (t == null) {
      return;
    }
    long left = deadlineNanos - System.nanoTime();
    try {
      if (left > 0) {
        TimeUnit.NANOSECONDS.timedJoin(t, left);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while loading junixsocket for the hand-off");
    }
    if (t.isAlive()) {
      throw new IOException("loading junixsocket for the hand-off did not finish in time");
    }
    preparing = null;
  }

  private static final class Preparation implements Runnable {
    @Override
    public void run() {
      prepare();
    }
  }

  private static void prepare() {
    try {
      if (AFUNIXSocket.isSupported()) {
        AFUNIXSocket.newInstance().close();
      }
    } catch (IOException | RuntimeException | LinkageError e) {
      // take() meets the same failure and reports it, naming the rendezvous
    }
  }

  /**
   * Takes the listening socket offered at {@code rendezvous}, waiting for the rendezvous to appear
   * and accept until {@code deadlineNanos}, and returns it as a JDK channel when the JDK can hold it
   * (see {@link #adopt}) or as a junixsocket listener otherwise.
   *
   * @throws IOException with a one-line reason naming the rendezvous, when nothing could be taken or
   *     what came is not a listening socket bound at {@code expected}
   */
  public static IpcListenerHandle take(Path rendezvous, Endpoint expected, long deadlineNanos) throws IOException {
    awaitPreparation(deadlineNanos);
    AFUNIXSocket socket = connectUntil(rendezvous, deadlineNanos);
    try {
      checkSameUser(socket, rendezvous);
      socket.setAncillaryReceiveBufferSize(256);
      socket.setSoTimeout(timeoutMillis(deadlineNanos));
      Received got = readHeader(socket, rendezvous);
      FileDescriptor fd = got.descriptor;
      String problem = fd == null ? "no descriptor came with the header" : problemWith(fd, expected, got.endpoint);
      if (problem != null) {
        closeDescriptor(fd);
        answer(socket, "ERR " + problem);
        throw new IOException("the listener offered at " + rendezvous + " is unusable: " + problem);
      }
      IpcListenerHandle handle;
      try {
        handle = adopt(fd, expected);
      } catch (IOException | RuntimeException e) {
        answer(socket, "ERR cannot adopt it: " + e.getMessage()); // so the giver reports why
        throw e;
      }
      answer(socket, "OK");
      return handle;
    } finally {
      Listeners.closeQuietly(socket);
    }
  }

  /**
   * Offers this process's listening socket at {@code endpoint} to whoever serves {@code rendezvous}
   * (the broker, during a replacement), and returns once it confirmed receipt.
   *
   * @throws IOException if the rendezvous does not answer before {@code deadlineNanos} or refuses
   */
  public static void offer(Path rendezvous, Endpoint endpoint, long deadlineNanos) throws IOException {
    FileDescriptor own = descriptorOf(endpoint);
    AFUNIXSocket socket = connectUntil(rendezvous, deadlineNanos);
    try {
      checkSameUser(socket, rendezvous);
      socket.setSoTimeout(timeoutMillis(deadlineNanos));
      send(socket, own, endpoint);
      String reply = readLine(socket.getInputStream(), rendezvous);
      if (!reply.equals("OK")) {
        throw new IOException("the rendezvous " + rendezvous + " refused the listener: " + reply);
      }
    } finally {
      Listeners.closeQuietly(socket);
    }
  }

  /** A received listener: the IpcListener and whether it is a JDK channel (which may be handed over again). */
  public record IpcListenerHandle(dev.fastbind.backend.IpcListener listener, boolean jdkChannel) {}

  /**
   * The giving side: a rendezvous socket bound at a path, serving one expected process at a time.
   * Connections from any other pid are closed unanswered.
   */
  public static final class Rendezvous implements Closeable {
    private final AFUNIXServerSocket server;
    private final Path path;

    private Rendezvous(AFUNIXServerSocket server, Path path) {
      this.server = server;
      this.path = path;
    }

    /** Binds the rendezvous at {@code path}, where no file may stand (the caller removed a dead one). */
    public static Rendezvous bind(Path path) throws IOException {
      AFUNIXServerSocket server = AFUNIXServerSocket.newInstance();
      try {
        server.setReuseAddress(false);
        server.bind(AFUNIXSocketAddress.of(path), 4);
        java.nio.file.Files.setPosixFilePermissions(path, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
      } catch (IOException | RuntimeException e) {
        Listeners.closeQuietly(server);
        throw new IOException("cannot bind the hand-off rendezvous " + path + ": " + e.getMessage(), e);
      }
      return new Rendezvous(server, path);
    }

    /** The rendezvous path. */
    public Path path() {
      return path;
    }

    /**
     * Gives {@code listener} (bound at {@code endpoint}) to process {@code pid} once it connects, and
     * returns when it confirmed; {@code alive} is asked between polls, so a taker that died ends the
     * wait at once.
     */
    public void give(FileDescriptor listener, Endpoint endpoint, long pid, long deadlineNanos, LongPredicate alive)
        throws IOException {
      try (AFUNIXSocket socket = acceptFrom(pid, deadlineNanos, alive)) {
        socket.setSoTimeout(timeoutMillis(deadlineNanos));
        send(socket, listener, endpoint);
        String reply = readLine(socket.getInputStream(), path);
        if (!reply.equals("OK")) {
          throw new IOException("pid " + pid + " refused the listener: " + reply);
        }
      }
    }

    /** Receives the listener bound at {@code endpoint} that process {@code pid} offers. */
    public FileDescriptor receive(Endpoint endpoint, long pid, long deadlineNanos, LongPredicate alive)
        throws IOException {
      try (AFUNIXSocket socket = acceptFrom(pid, deadlineNanos, alive)) {
        socket.setAncillaryReceiveBufferSize(256);
        socket.setSoTimeout(timeoutMillis(deadlineNanos));
        Received got = readHeader(socket, path);
        String problem = got.descriptor == null ? "no descriptor came with the header"
            : problemWith(got.descriptor, endpoint, got.endpoint);
        if (problem != null) {
          closeDescriptor(got.descriptor);
          answer(socket, "ERR " + problem);
          throw new IOException("pid " + pid + " offered an unusable listener: " + problem);
        }
        answer(socket, "OK");
        return got.descriptor;
      }
    }

    private AFUNIXSocket acceptFrom(long pid, long deadlineNanos, LongPredicate alive) throws IOException {
      while (true) {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
          throw new SocketTimeoutException("pid " + pid + " did not come to the hand-off rendezvous " + path
              + " in time");
        }
        if (!alive.test(pid)) {
          throw new IOException("pid " + pid + " ended before it took part in the hand-off");
        }
        server.setSoTimeout((int) Math.max(1, Math.min(POLL_MILLIS, TimeUnit.NANOSECONDS.toMillis(left))));
        AFUNIXSocket socket;
        try {
          socket = server.accept();
        } catch (SocketTimeoutException again) {
          continue;
        }
        AFUNIXSocketCredentials peer = socket.getPeerCredentials();
        if (peer.getPid() == pid && peer.getUid() == ProcessIdentity.currentUid()) {
          return socket;
        }
        Listeners.closeQuietly(socket); // not the process this hand-off is for
      }
    }

    /** Closes the rendezvous and removes its socket file. */
    @Override
    public void close() {
      Listeners.closeQuietly(server);
      try {
        Files.deleteIfExists(path);
      } catch (IOException ignored) {
        // a dead rendezvous file is removed by the next hand-off before it binds
      }
    }
  }

  /**
   * A descriptor of this process's own listening socket bound at {@code endpoint}, found through
   * procfs (the JDK exposes no descriptor). The returned object aliases the open descriptor: it is
   * never to be closed through junixsocket, whose close shuts the socket down for every holder.
   */
  public static FileDescriptor descriptorOf(Endpoint endpoint) throws IOException {
    Set<Long> inodes = SocketHolders.listeningInodes(endpoint);
    if (!inodes.isEmpty()) {
      try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
        for (Path fd : fds) {
          String target;
          try {
            target = Files.readSymbolicLink(fd).toString();
          } catch (IOException closedMeanwhile) {
            continue;
          }
          if (target.startsWith("socket:[") && inodes.contains(parseInode(target))) {
            return FileDescriptorCast.unsafeUsing(Integer.parseInt(fd.getFileName().toString())).getFileDescriptor();
          }
        }
      }
    }
    throw new IOException("this process holds no listening socket bound at " + endpoint);
  }

  /** Closes a descriptor received from junixsocket with a plain {@code close(2)}, never shutting the socket down. */
  public static void closeDescriptor(FileDescriptor fd) {
    if (fd != null && fd.valid()) {
      Listeners.closeQuietly(new FileInputStream(fd));
    }
  }

  /**
   * Turns a received descriptor into this process's listener. The JDK can hold a descriptor it did
   * not open only at fd 0 ({@link System#inheritedChannel()}), so the descriptor is moved there
   * (replacing {@code /dev/null}) through junixsocket's own {@code dup2}: the listener is then a JDK
   * channel like a self-bound one, whose close wakes a blocked accept without shutting the socket
   * down for the other holders (junixsocket's close does shut it down, which would refuse every
   * connection the successor or systemd still waits for). Where that is impossible (junixsocket
   * loaded as a named module) the listener stays a junixsocket channel and may not be handed over again.
   */
  static IpcListenerHandle adopt(FileDescriptor fd, Endpoint expected) throws IOException {
    Path path = expected.path().orElseThrow(() -> new IOException("hand-off needs a socket path, not " + expected));
    Object fileKey = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class,
        LinkOption.NOFOLLOW_LINKS).fileKey();
    if (moveToStdin(fd)) {
      closeDescriptor(fd);
      Channel inherited = System.inheritedChannel();
      if (inherited instanceof ServerSocketChannel server
          && server.getLocalAddress() instanceof UnixDomainSocketAddress) {
        return new IpcListenerHandle(Listeners.adoptHandedOff(server, expected, path, fileKey), true);
      }
      throw new IOException("descriptor 0 did not become the handed-off listener (the JDK saw " + inherited + ")");
    }
    org.newsclub.net.unix.AFUNIXServerSocketChannel channel =
        FileDescriptorCast.using(fd).as(org.newsclub.net.unix.AFUNIXServerSocketChannel.class);
    channel.setDeleteOnClose(false);
    return new IpcListenerHandle(new Junix.JunixListener(expected, channel, true), false);
  }

  /**
   * Adopts the listening socket systemd passed at {@code fd} (3) as a JDK channel, moved onto fd 0
   * as in {@link #adopt}: junixsocket's close would shut down systemd's own socket, which then refuses
   * every connection until the socket unit restarts, so a daemon that exits (idle, stopped) could
   * never be activated again. Empty, with {@code fd} untouched, when the socket is not a listening
   * socket bound at a path (abstract names stay with junixsocket) or the move is impossible.
   */
  static Optional<dev.fastbind.backend.IpcListener> adoptSystemdAsJdk(int fd) {
    Path path = listeningPathOf(fd);
    if (path == null) {
      return Optional.empty();
    }
    FileDescriptor d;
    try {
      d = FileDescriptorCast.unsafeUsing(fd).getFileDescriptor();
    } catch (IOException | RuntimeException | LinkageError e) {
      return Optional.empty();
    }
    if (!moveToStdin(d)) {
      return Optional.empty();
    }
    closeDescriptor(d);
    try {
      Channel inherited = System.inheritedChannel();
      if (inherited instanceof ServerSocketChannel server) {
        return Optional.of(Listeners.adoptJdk(server));
      }
    } catch (IOException | RuntimeException e) {
      // fall through: fd 0 holds the socket now, and the caller adopts it from there through junixsocket
    }
    return Optional.empty();
  }

  /** The path a listening Unix-domain socket at {@code fd} of this process is bound to, or null. */
  private static Path listeningPathOf(int fd) {
    String target;
    try {
      target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
    } catch (IOException e) {
      return null;
    }
    if (!target.startsWith("socket:[")) {
      return null;
    }
    return SocketHolders.listeningPath(parseInode(target)).orElse(null);
  }

  private static boolean moveToStdin(FileDescriptor fd) {
    try {
      Class<?> nativeSocket = Class.forName("org.newsclub.net.unix.NativeUnixSocket");
      Method duplicate = nativeSocket.getDeclaredMethod("duplicate", FileDescriptor.class, FileDescriptor.class);
      duplicate.setAccessible(true);
      duplicate.invoke(null, fd, FileDescriptor.in);
      return "socket".equals(kindOfStdin());
    } catch (ReflectiveOperationException | RuntimeException e) {
      return false;
    }
  }

  private static String kindOfStdin() {
    try {
      String target = Files.readSymbolicLink(Path.of("/proc/self/fd/0")).toString();
      return target.startsWith("socket:[") ? "socket" : target;
    } catch (IOException e) {
      return "unknown";
    }
  }

  /** Null if {@code fd} is a listening socket bound at {@code expected}, else why not. */
  private static String problemWith(FileDescriptor fd, Endpoint expected, String announced) {
    if (!announced.equals(expected.toString())) {
      return "it was announced as " + Escaping.printable(announced) + ", not " + expected;
    }
    int number;
    try {
      number = FileDescriptorCast.using(fd).as(Integer.class);
    } catch (IOException | RuntimeException e) {
      return "its descriptor number cannot be read (" + e + ")";
    }
    String target;
    try {
      target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + number)).toString();
    } catch (IOException e) {
      return "procfs cannot say what descriptor " + number + " is";
    }
    if (!target.startsWith("socket:[")) {
      return "descriptor " + number + " is " + target + ", not a socket";
    }
    if (!SocketHolders.listeningInodes(expected).contains(parseInode(target))) {
      return "descriptor " + number + " is not a socket listening at " + expected;
    }
    return null;
  }

  private static long parseInode(String socketLink) {
    try {
      return Long.parseLong(socketLink.substring("socket:[".length(), socketLink.length() - 1));
    } catch (NumberFormatException | IndexOutOfBoundsException e) {
      return -1;
    }
  }

  private static AFUNIXSocket connectUntil(Path rendezvous, long deadlineNanos) throws IOException {
    IOException last = null;
    while (System.nanoTime() - deadlineNanos < 0) {
      try {
        return AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(rendezvous));
      } catch (IOException e) {
        last = e; // not bound yet: the giver binds it while this JVM starts
      }
      java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
    }
    throw new IOException("nothing accepted at the hand-off rendezvous " + rendezvous + " in time"
        + (last == null ? "" : " (" + last.getMessage() + ")"), last);
  }

  private static void checkSameUser(AFUNIXSocket socket, Path rendezvous) throws IOException {
    long uid = socket.getPeerCredentials().getUid();
    if (uid != ProcessIdentity.currentUid()) {
      throw new IOException("the hand-off rendezvous " + rendezvous + " is served by uid " + uid + ", not this user");
    }
  }

  private static void send(AFUNIXSocket socket, FileDescriptor listener, Endpoint endpoint) throws IOException {
    byte[] line = (MAGIC + " " + VERSION + " " + Escaping.escape(endpoint.toString(), " ") + "\n")
        .getBytes(StandardCharsets.UTF_8);
    socket.setOutboundFileDescriptors(listener);
    OutputStream out = socket.getOutputStream();
    out.write(line);
    out.flush();
    socket.setOutboundFileDescriptors((FileDescriptor[]) null);
  }

  private record Received(String endpoint, FileDescriptor descriptor) {}

  private static Received readHeader(AFUNIXSocket socket, Path from) throws IOException {
    InputStream in = socket.getInputStream();
    StringBuilder line = new StringBuilder(128);
    FileDescriptor fd = null;
    while (true) {
      int b = in.read();
      FileDescriptor[] fds = socket.getReceivedFileDescriptors();
      if (fds != null && fds.length > 0 && fd == null) {
        // junixsocket closes what it received when the connection closes: keep a duplicate. Extra
        // descriptors (exactly one is expected) are left to that close.
        fd = FileDescriptorCast.duplicating(fds[0]).getFileDescriptor();
      }
      if (b < 0) {
        closeDescriptor(fd);
        throw new IOException("the hand-off over " + from + " ended before its header line");
      }
      if (b == '\n') {
        break;
      }
      if (line.length() >= MAX_LINE) {
        closeDescriptor(fd);
        throw new IOException("the hand-off header over " + from + " is longer than " + MAX_LINE + " bytes");
      }
      line.append((char) b);
    }
    String text = new String(line.toString().getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
    String[] words = text.split(" ", 3);
    if (words.length != 3 || !words[0].equals(MAGIC)) {
      closeDescriptor(fd);
      throw new IOException("the hand-off over " + from + " did not start with " + MAGIC + ": '"
          + Escaping.printable(text) + "'");
    }
    if (!words[1].equals(Integer.toString(VERSION))) {
      closeDescriptor(fd);
      throw new IOException("the hand-off over " + from + " speaks version " + Escaping.printable(words[1])
          + "; this SDK speaks version " + VERSION + ": use the same fastbind version on both sides");
    }
    return new Received(Escaping.unescape(words[2]), fd);
  }

  private static String readLine(InputStream in, Path from) throws IOException {
    StringBuilder line = new StringBuilder();
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("the other side of the hand-off over " + from + " closed without an answer");
      }
      if (b == '\n') {
        return line.toString();
      }
      if (line.length() >= MAX_LINE) {
        throw new IOException("the hand-off answer over " + from + " is too long");
      }
      line.append((char) b);
    }
  }

  private static void answer(AFUNIXSocket socket, String text) {
    try {
      OutputStream out = socket.getOutputStream();
      out.write((text.replace('\n', ' ') + "\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
    } catch (IOException ignored) {
      // the other side gave up; its own deadline reports it
    }
  }

  private static int timeoutMillis(long deadlineNanos) {
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime())));
  }
}
