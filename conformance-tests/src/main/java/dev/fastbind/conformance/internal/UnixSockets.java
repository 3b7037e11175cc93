package dev.fastbind.conformance.internal;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.SocketHolders;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the kernel says about the Unix-domain sockets at a daemon's endpoint (Linux procfs), for the
 * hand-off rules: which listening sockets are bound there, and which connections a process accepted
 * on them. {@code /proc/net/unix} lists an accepted connection with its listener's path and the
 * connected state; {@code /proc/PID/fd} shows which process holds it. Connections still waiting in a
 * backlog are held by no process.
 */
public final class UnixSockets {

  private static final String CONNECTED = "03"; // SS_CONNECTED in /proc/net/unix's St column

  private UnixSockets() {}

  /** Empty where the hand-off rules can run (Linux with procfs); otherwise why not. */
  public static Optional<String> handoffUnavailableBecause() {
    String os = System.getProperty("os.name", "");
    if (!os.toLowerCase(Locale.ROOT).startsWith("linux")) {
      return Optional.of("the listener hand-off exists only on Linux; this is " + os);
    }
    if (!Files.isReadable(Path.of("/proc/net/unix"))) {
      return Optional.of("no /proc/net/unix here: the kit cannot see which process holds a socket");
    }
    return Optional.empty();
  }

  /** The inodes of the sockets listening at {@code endpoint}, sorted. */
  public static Set<Long> listening(Endpoint endpoint) {
    return new TreeSet<>(SocketHolders.listeningInodes(endpoint));
  }

  /**
   * The inodes of the connections {@code pid} holds that were accepted on a listener bound at
   * {@code path}; empty when it holds none or cannot be inspected.
   */
  public static Set<Long> accepted(long pid, Path path) {
    Set<Long> atPath = connectedAt(path.toString());
    Set<Long> held = new TreeSet<>();
    if (atPath.isEmpty()) {
      return held;
    }
    try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "fd"))) {
      for (Path fd : fds) {
        String target;
        try {
          target = Files.readSymbolicLink(fd).toString();
        } catch (IOException closedMeanwhile) {
          continue;
        }
        if (target.startsWith("socket:[") && target.endsWith("]")) {
          try {
            long inode = Long.parseLong(target.substring("socket:[".length(), target.length() - 1));
            if (atPath.contains(inode)) {
              held.add(inode);
            }
          } catch (NumberFormatException notAnInode) {
            // not a socket link after all
          }
        }
      }
    } catch (IOException | RuntimeException goneOrNotOurs) {
      return held;
    }
    return held;
  }

  /** The connected sockets {@code /proc/net/unix} lists with address {@code path}. */
  private static Set<Long> connectedAt(String path) {
    Set<Long> found = new HashSet<>();
    List<String> lines;
    try {
      lines = Files.readAllLines(Path.of("/proc/net/unix"), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return found;
    }
    for (String line : lines) {
      // Num RefCount Protocol Flags Type St Inode Path; the path last, possibly with spaces.
      String[] f = line.trim().split("\\s+", 8);
      if (f.length == 8 && f[5].equals(CONNECTED) && f[7].equals(path)) {
        try {
          found.add(Long.parseLong(f[6]));
        } catch (NumberFormatException header) {
          // the header line
        }
      }
    }
    return found;
  }
}
