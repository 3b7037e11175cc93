package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.DeathRecords;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What {@code Broker.clean} does in one runtime directory. Files are grouped by service: the part of
 * the name before the first dot and any {@code ~} ({@code s.log}, {@code s~<id>.lock} and
 * {@code s.<key>.jsa} are all service {@code s}'s, see {@link ServiceLayout}). A service whose newest
 * file changed within {@code unusedFor}, or one of whose daemons may be alive (a lockfile names a
 * live process with the recorded start time in this boot, or an endpoint answers or is bound), is
 * kept, and of it only death records and rotated logs older than {@code unusedFor} go. Of any other
 * service every regular file goes, and its socket files once nothing listens, while this JVM holds
 * the service's spawn locks (taken without waiting: a service whose lock another launcher holds is
 * in use and kept), and only if nothing changed in between. Symbolic
 * links, directories and files not named after a slot are never touched, and nothing is followed.
 */
public final class Cleaning {
  private Cleaning() {}

  /** Removes what {@code unusedFor} makes stale in {@code dir}; returns what it removed. */
  public static List<Path> clean(Path dir, Duration unusedFor) throws IOException {
    long cutoff = System.currentTimeMillis() - unusedFor.toMillis();
    Map<String, List<Path>> slots = new TreeMap<>();
    Map<String, Long> newest = new TreeMap<>();
    Map<String, java.util.Set<String>> lockSlots = new TreeMap<>();
    try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
      for (Path p : s) {
        String name = p.getFileName().toString();
        int dot = name.indexOf('.');
        if (dot <= 0) {
          continue; // temp files (".…"), hs_err logs and the like are not a slot's
        }
        BasicFileAttributes a;
        try {
          a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException gone) {
          continue;
        }
        if (a.isSymbolicLink() || a.isDirectory()) {
          continue;
        }
        String slot = name.substring(0, dot);
        int tilde = slot.indexOf(ServiceLayout.KEY_SEPARATOR);
        String service = tilde < 0 ? slot : slot.substring(0, tilde);
        slots.computeIfAbsent(service, k -> new ArrayList<>()).add(p);
        newest.merge(service, a.lastModifiedTime().toMillis(), Math::max);
        lockSlots.computeIfAbsent(service, k -> new java.util.TreeSet<>()).add(slot);
      }
    }
    List<Path> removed = new ArrayList<>();
    for (Map.Entry<String, List<Path>> e : slots.entrySet()) {
      String service = e.getKey();
      java.util.Set<String> serviceSlots = lockSlots.getOrDefault(service, java.util.Set.of());
      boolean stale = newest.get(service) < cutoff && !anyAlive(dir, serviceSlots);
      List<SpawnLock> held = new ArrayList<>();
      try {
        if (stale) {
          // Under the service's spawn locks, so that no launcher starts a daemon among files being
          // removed; a lock another launcher holds means the service is in use. Then look again.
          stale = lockAll(dir, service, serviceSlots, held) && stillUnused(e.getValue(), cutoff)
              && !anyAlive(dir, serviceSlots);
        }
        removeFrom(e.getValue(), stale, cutoff, removed);
      } finally {
        for (SpawnLock l : held) {
          try {
            l.close();
          } catch (IOException releaseFailed) {
            // the lock goes with its file, just removed, or with this JVM
          }
        }
      }
    }
    return removed;
  }

  private static boolean anyAlive(Path dir, java.util.Set<String> slots) {
    for (String slot : slots) {
      if (alive(dir, slot)) {
        return true;
      }
    }
    return false;
  }

  /** Takes the spawn lock of every slot that has one, without waiting; false if one is held elsewhere. */
  private static boolean lockAll(Path dir, String service, java.util.Set<String> slots, List<SpawnLock> held) {
    for (String slot : slots) {
      Path lockFile = dir.resolve(slot + ".spawn-lock");
      if (!Files.isRegularFile(lockFile, LinkOption.NOFOLLOW_LINKS)) {
        continue;
      }
      try {
        held.add(SpawnLock.acquire(lockFile, service, Duration.ZERO));
      } catch (IOException busyOrOdd) {
        return false;
      }
    }
    return true;
  }

  private static boolean stillUnused(List<Path> files, long cutoff) {
    for (Path p : files) {
      try {
        if (Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toMillis() >= cutoff) {
          return false;
        }
      } catch (java.nio.file.NoSuchFileException gone) {
        // removed meanwhile
      } catch (IOException e) {
        return false;
      }
    }
    return true;
  }

  /** Removes every file of a stale service, or only the aged death records and rotated logs of another. */
  private static void removeFrom(List<Path> files, boolean stale, long cutoff, List<Path> removed) {
    for (Path p : files) {
      String name = p.getFileName().toString();
      String slot = name.substring(0, name.indexOf('.'));
      boolean aged = name.startsWith(slot + DeathRecords.INFIX) || isRotatedLog(slot, name);
      if (!stale && !(aged && modifiedBefore(p, cutoff))) {
        continue;
      }
      if (remove(p)) {
        removed.add(p);
      }
    }
  }

  private static boolean isRotatedLog(String slot, String name) {
    String prefix = slot + ".log.";
    if (!name.startsWith(prefix) || name.length() == prefix.length()) {
      return false;
    }
    for (int i = prefix.length(); i < name.length(); i++) {
      if (!Character.isDigit(name.charAt(i))) {
        return false;
      }
    }
    return true;
  }

  private static boolean modifiedBefore(Path p, long cutoff) {
    try {
      return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toMillis() < cutoff;
    } catch (IOException e) {
      return false;
    }
  }

  /** Whether the slot's daemon may be alive: verified as the broker verifies, erring on the side of alive. */
  static boolean alive(Path dir, String slot) {
    Path lock = dir.resolve(slot + ServiceLayout.LOCKFILE_SUFFIX);
    try {
      Optional<LockfileRecord> r = Lockfiles.read(lock);
      if (r.isPresent() && r.get().bootId().equals(ProcessIdentity.bootId())
          && ProcessIdentity.startTime(r.get().pid()).map(t -> t.equals(r.get().processStartTime())).orElse(false)) {
        return true;
      }
    } catch (IOException | RuntimeException unreadable) {
      // then the endpoints decide
    }
    for (String suffix : new String[] {".sock", ".ctl", ".handoff", ".notify"}) {
      Path socket = dir.resolve(slot + suffix);
      try {
        RuntimeFiles.Found f = RuntimeFiles.lstat(socket);
        if (f.kind() == RuntimeFiles.Kind.SOCKET) {
          if (Probe.connects(socket)) {
            return true;
          }
          dev.fastbind.backend.internal.SocketHolders.BindState b =
              dev.fastbind.backend.internal.SocketHolders.stateOf(socket);
          if (b == dev.fastbind.backend.internal.SocketHolders.BindState.BOUND
              || b == dev.fastbind.backend.internal.SocketHolders.BindState.LISTENING) {
            return true;
          }
        }
      } catch (IOException | RuntimeException e) {
        return true; // cannot tell: keep
      }
    }
    return false;
  }

  /** Removes a regular file, or a socket file nobody listens on; never anything else. */
  private static boolean remove(Path p) {
    try {
      RuntimeFiles.Kind k = RuntimeFiles.kindOf(p);
      if (k == RuntimeFiles.Kind.REGULAR) {
        return RuntimeFiles.deleteIfRegular(p);
      }
      if (k == RuntimeFiles.Kind.SOCKET) {
        return RuntimeFiles.clearDeadSocket(p) == RuntimeFiles.SocketState.REMOVED;
      }
    } catch (IOException | RuntimeException e) {
      // left in place; the next clean tries again
    }
    return false;
  }
}
