package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.Escaping;
import dev.fastbind.backend.internal.wire.ControlFrames;
import dev.fastbind.backend.Endpoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Which processes hold the listening Unix-domain socket bound at an endpoint, as the kernel tells it
 * (Linux): {@code /proc/net/unix} maps the endpoint's address to the inodes of the sockets listening
 * there, and {@code /proc/<pid>/fd} shows which processes hold one of those inodes.
 *
 * <p>This is the broker's proof that a recorded pid is the daemon it claims to be (a daemon holds its
 * own listeners from bind to exit, and no unrelated process holds them), and how it names the real
 * holder when the recorded daemon is dead but its endpoint still accepts: a child that inherited the
 * listener, or another program bound at the path. Peer credentials cannot answer the second
 * question, since they name the process that called {@code listen()}, which may be long dead.
 *
 * <p>Reads are capped ({@value #MAX_NET_UNIX_BYTES} bytes of {@code /proc/net/unix}) and never
 * throw: where procfs is missing or a process cannot be inspected, the answer is simply smaller.
 * Off every hot path; a scan of all processes costs a few milliseconds.
 */
public final class SocketHolders {
  private SocketHolders() {}

  /** The most of {@code /proc/net/unix} read: enough for about 80,000 sockets. */
  static final int MAX_NET_UNIX_BYTES = 8 << 20;
  private static final int ACCEPT_CONNECTIONS_FLAG = 0x10000; // __SO_ACCEPTCON: a listening socket
  private static final String UNCONNECTED = "01"; // SS_UNCONNECTED: bound or listening, not a connection

  /**
   * A process that holds a listener.
   *
   * @param pid its process id
   * @param uid its real user id, -1 when unreadable
   * @param command its command name ({@code /proc/<pid>/comm}), empty when unreadable
   */
  public record Holder(long pid, long uid, String command) {
    /** "pid 4242 (uid 1000, socat)" for error messages. */
    public String describe() {
      return "pid " + pid + " (uid " + (uid < 0 ? "unknown" : Long.toString(uid))
          + (command.isEmpty() ? "" : ", " + Escaping.printable(command)) + ")";
    }
  }

  /** What the kernel's table shows bound at a path. */
  public enum BindState {
    /** No unconnected socket is bound to the path: a socket file there is dead. */
    NONE,
    /** A socket is bound to the path but does not listen (yet): its owner is between bind and listen. */
    BOUND,
    /** A socket listens on the path (possibly on another inode, if the file was replaced). */
    LISTENING,
    /** The table cannot be read here (not Linux, no procfs). */
    UNKNOWN
  }

  /**
   * The strongest state of the sockets bound to {@code path}. Read only when a socket file refuses a
   * connect, to tell a dead file from one whose owner has bound but not yet listened: a bind must
   * never delete the latter. Connections an accept produced carry their listener's path too but are
   * not bound sockets and do not count.
   */
  public static BindState stateOf(Path path) {
    Scan scan = scan(path.toString());
    if (!scan.readable) {
      return BindState.UNKNOWN;
    }
    return !scan.listening.isEmpty() ? BindState.LISTENING : scan.bound ? BindState.BOUND : BindState.NONE;
  }

  /** The inodes of the listening sockets bound at {@code endpoint}; empty without procfs. */
  public static Set<Long> listeningInodes(Endpoint endpoint) {
    String wanted = switch (endpoint.kind()) {
      case UNIX_PATH -> endpoint.path().orElseThrow().toString();
      case ABSTRACT -> "@" + endpoint.abstractName().orElseThrow();
    };
    return scan(wanted).listening;
  }

  /** One pass over {@code /proc/net/unix} for the sockets bound at {@code wanted}. */
  private static final class Scan {
    final Set<Long> listening = new HashSet<>();
    boolean bound;
    boolean readable;
  }

  private static Scan scan(String wanted) {
    Scan scan = new Scan();
    String table = readCapped(Path.of("/proc/net/unix"), MAX_NET_UNIX_BYTES);
    scan.readable = !table.isEmpty();
    int at = table.indexOf('\n') + 1; // skip the header
    while (at > 0 && at < table.length()) {
      int end = table.indexOf('\n', at);
      if (end < 0) {
        end = table.length();
      }
      parseLine(table.substring(at, end), wanted, scan);
      at = end + 1;
    }
    return scan;
  }

  /** Whether {@code pid} holds one of the listening sockets bound at {@code endpoint}. */
  public static boolean holds(long pid, Endpoint endpoint) {
    Set<Long> inodes = listeningInodes(endpoint);
    return !inodes.isEmpty() && holdsAny(pid, inodes);
  }

  /**
   * Every process that holds a listening socket bound at {@code endpoint}, in pid order; empty when
   * none or without procfs. Processes this user may not inspect are not found.
   */
  public static List<Holder> holders(Endpoint endpoint) {
    Set<Long> inodes = listeningInodes(endpoint);
    List<Holder> found = new ArrayList<>();
    if (inodes.isEmpty()) {
      return found;
    }
    List<Long> pids = new ArrayList<>();
    try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"))) {
      for (Path p : procs) {
        long pid = parsePid(p.getFileName().toString());
        if (pid > 0) {
          pids.add(pid);
        }
      }
    } catch (IOException | RuntimeException e) {
      return found;
    }
    pids.sort(null);
    for (long pid : pids) {
      if (holdsAny(pid, inodes)) {
        found.add(new Holder(pid, realUid(pid), command(pid)));
      }
    }
    return found;
  }

  /** The real uid of {@code pid} from {@code /proc/<pid>/status}, or -1 when unreadable. */
  public static long realUid(long pid) {
    return uidField(pid, 0);
  }

  /** The effective uid of {@code pid} from {@code /proc/<pid>/status}, or -1 when unreadable. */
  public static long effectiveUid(long pid) {
    return uidField(pid, 1);
  }

  private static long uidField(long pid, int index) {
    String status = readCapped(Path.of("/proc", Long.toString(pid), "status"), 16 << 10);
    int at = status.indexOf("\nUid:");
    if (at < 0) {
      return -1;
    }
    int end = status.indexOf('\n', at + 1);
    String[] f = fields(status.substring(at + 5, end < 0 ? status.length() : end), 0);
    try {
      return f.length > index ? Long.parseLong(f[index]) : -1;
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** The command name of {@code pid}, empty when unreadable. */
  public static String command(long pid) {
    return readCapped(Path.of("/proc", Long.toString(pid), "comm"), 256).trim();
  }

  private static boolean holdsAny(long pid, Set<Long> inodes) {
    try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "fd"))) {
      for (Path fd : fds) {
        String target;
        try {
          target = Files.readSymbolicLink(fd).toString();
        } catch (IOException | RuntimeException closedMeanwhile) {
          continue;
        }
        if (target.startsWith("socket:[") && target.endsWith("]")) {
          long inode = parsePid(target.substring(8, target.length() - 1));
          if (inode > 0 && inodes.contains(inode)) {
            return true;
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      return false; // gone, or not ours to inspect
    }
    return false;
  }

  /**
   * One line of {@code /proc/net/unix}: {@code Num RefCount Protocol Flags Type St Inode [Path]}, the
   * path last and possibly containing spaces. Only unconnected sockets ({@code St} 01) count: bound,
   * or listening when {@code Flags} has {@code __SO_ACCEPTCON}.
   */
  static void parseLine(String line, String wanted, Set<Long> listening) {
    Scan scan = new Scan();
    parseLine(line, wanted, scan);
    listening.addAll(scan.listening);
  }

  private static void parseLine(String line, String wanted, Scan into) {
    if (!line.endsWith(wanted)) {
      return;
    }
    String[] f = fields(line, 8);
    if (f.length < 8 || !f[7].equals(wanted) || !f[5].equals(UNCONNECTED)) {
      return;
    }
    try {
      int flags = Integer.parseInt(f[3], 16);
      if ((flags & ACCEPT_CONNECTIONS_FLAG) == 0) {
        into.bound = true;
        return;
      }
      into.listening.add(Long.parseLong(f[6]));
    } catch (NumberFormatException e) {
      // an unexpected line: not one of ours
    }
  }

  /**
   * {@code s} split at runs of spaces and tabs, as {@code s.trim().split("\\s+", limit)} would (limit
   * 0: no limit; the last field keeps the rest of the line), without the regular-expression engine:
   * a launcher's first verification must not load {@code java.util.regex} for a procfs line.
   */
  static String[] fields(String s, int limit) {
    java.util.ArrayList<String> out = new java.util.ArrayList<>(limit > 0 ? limit : 8);
    int i = 0;
    int n = s.length();
    while (i < n) {
      while (i < n && isBlank(s.charAt(i))) {
        i++;
      }
      if (i >= n) {
        break;
      }
      int from = i;
      if (limit > 0 && out.size() == limit - 1) {
        int to = n;
        while (to > from && isBlank(s.charAt(to - 1))) {
          to--;
        }
        out.add(s.substring(from, to));
        break;
      }
      while (i < n && !isBlank(s.charAt(i))) {
        i++;
      }
      out.add(s.substring(from, i));
    }
    return out.toArray(new String[0]);
  }

  private static boolean isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0B;
  }

  private static long parsePid(String s) {
    if (s.isEmpty() || s.length() > 18) {
      return -1;
    }
    long v = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      v = v * 10 + (c - '0');
    }
    return v;
  }

  private static String readCapped(Path file, int cap) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer buf = ByteBuffer.allocate(Math.min(cap, 64 << 10));
      while (true) {
        if (!buf.hasRemaining()) {
          if (buf.capacity() >= cap) {
            break;
          }
          ByteBuffer bigger = ByteBuffer.allocate(Math.min(cap, buf.capacity() * 2));
          buf.flip();
          bigger.put(buf);
          buf = bigger;
        }
        if (ch.read(buf) < 0) {
          break;
        }
      }
      return new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  /**
   * The path at which the listening socket with {@code inode} is bound, from {@code /proc/net/unix};
   * empty when it is not a listening socket, is bound to an abstract name ({@code @…}) or the table
   * cannot be read.
   */
  public static Optional<Path> listeningPath(long inode) {
    if (inode <= 0) {
      return Optional.empty();
    }
    String table = readCapped(Path.of("/proc/net/unix"), MAX_NET_UNIX_BYTES);
    String wanted = " " + inode + " ";
    int at = table.indexOf('\n') + 1;
    while (at > 0 && at < table.length()) {
      int end = table.indexOf('\n', at);
      if (end < 0) {
        end = table.length();
      }
      String line = table.substring(at, end);
      at = end + 1;
      if (!line.contains(wanted)) {
        continue;
      }
      String[] f = fields(line, 8);
      try {
        if (f.length == 8 && f[5].equals(UNCONNECTED) && Long.parseLong(f[6]) == inode
            && (Integer.parseInt(f[3], 16) & ACCEPT_CONNECTIONS_FLAG) != 0 && f[7].startsWith("/")) {
          return Optional.of(Path.of(f[7]));
        }
      } catch (NumberFormatException e) {
        // an unexpected line: not the one we look for
      }
    }
    return Optional.empty();
  }

  /** For messages: the first holder, described, or empty. */
  public static Optional<Holder> first(Endpoint endpoint) {
    List<Holder> all = holders(endpoint);
    return all.isEmpty() ? Optional.empty() : Optional.of(all.get(0));
  }
}
