package dev.fastbind.backend.internal;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the kernel says about the sockets bound to a path: Linux's {@code /proc/net/unix}, one line
 * per Unix-domain socket of this network namespace, with its flags, state and bound path.
 *
 * <p>Read only on the reclaim path of a bind (a socket file stands at the path and refuses a
 * connect), never on the common one: the table lists every socket of the namespace. The bind uses it
 * to tell a dead socket file from one whose owner is between {@code bind(2)} and {@code listen(2)}.
 * Sockets that an accept produced carry their listener's path too but are connected, not bound, and
 * are not counted: a listener that closed while its connections drain leaves a dead file.
 */
final class SocketTable {
  private static final Path TABLE = Path.of("/proc/net/unix");
  /** {@code __SO_ACCEPTCON} in the Flags column: the socket listens. */
  private static final int ACCEPTCON = 0x10000;
  /** {@code SS_UNCONNECTED} in the St column: bound or listening, not a connection. */
  private static final String UNCONNECTED = "01";

  /** What stands at a path, as far as the kernel's table tells. */
  enum State {
    /** No unconnected socket is bound to the path: a socket file there is dead. */
    NONE,
    /** A socket is bound to the path but does not listen (yet). */
    BOUND,
    /** A socket listens on the path (possibly on another inode, if the file was replaced). */
    LISTENING,
    /** The table cannot be read here (not Linux, no procfs). */
    UNKNOWN
  }

  private SocketTable() {}

  /** The state of the sockets bound to {@code path}: the strongest one seen wins. */
  static State stateOf(Path path) {
    if (!Files.isReadable(TABLE)) {
      return State.UNKNOWN;
    }
    String want = path.toString();
    State found = State.NONE;
    try (BufferedReader r = new BufferedReader(new InputStreamReader(Files.newInputStream(TABLE), StandardCharsets.UTF_8))) {
      r.readLine(); // header
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (!line.endsWith(want)) {
          continue;
        }
        // Num: RefCount Protocol Flags Type St Inode Path
        String[] f = line.trim().split("\\s+", 8);
        if (f.length < 8 || !f[7].equals(want) || !f[5].equals(UNCONNECTED)) {
          continue;
        }
        int flags;
        try {
          flags = Integer.parseInt(f[3], 16);
        } catch (NumberFormatException e) {
          continue;
        }
        if ((flags & ACCEPTCON) != 0) {
          return State.LISTENING;
        }
        found = State.BOUND;
      }
    } catch (IOException e) {
      return State.UNKNOWN;
    }
    return found;
  }
}
