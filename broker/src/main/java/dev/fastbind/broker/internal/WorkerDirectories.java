package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.RuntimeDirectory;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The directories of private worker pools: {@code <runtime>/pools/<pid>.<start>.<n>/<worker>/}, owner-only,
 * named after the owning process ({@code pid} and its start time, so a reused pid is told apart) and
 * the pool's number in it. {@link dev.fastbind.broker.Broker#list()} and {@code clean} look only at
 * the runtime directory's own files, so workers never appear among the shared daemons.
 *
 * <p>A pool removes its directory when it closes. One whose owner was killed is left (its workers
 * removed their sockets and lockfiles as they exited); the next pool created in the same runtime
 * directory removes such leftovers once no process of theirs is alive. Links are never followed or
 * removed: a directory holding one is left as it is.
 */
public final class WorkerDirectories {

  /** The subdirectory of the runtime directory. */
  public static final String POOLS = "pools";

  private static final AtomicInteger SEQUENCE = new AtomicInteger();

  private WorkerDirectories() {}

  /** Creates a new pool directory under {@code runtimeDir}, after removing dead owners' leftovers. */
  public static Path create(Path runtimeDir) throws IOException {
    RuntimeDirectory.ensureOwnerOnly(runtimeDir);
    Path pools = RuntimeDirectory.ensureOwnerOnly(runtimeDir.resolve(POOLS));
    sweep(pools);
    long pid = ProcessHandle.current().pid();
    String start = ProcessIdentity.startTime(pid).orElse("0");
    return RuntimeDirectory.ensureOwnerOnly(pools.resolve(pid + "." + start + "." + SEQUENCE.incrementAndGet()));
  }

  /** Removes the leftovers of pools whose owning process is gone. Best effort. */
  static void sweep(Path pools) {
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(pools)) {
      for (Path d : dirs) {
        Optional<long[]> owner = owner(d.getFileName().toString());
        if (owner.isEmpty() || alive(owner.get()[0], d.getFileName().toString()) || hasLiveWorker(d)) {
          continue;
        }
        remove(d);
      }
    } catch (IOException e) {
      // nothing to sweep, or not readable: the new pool does not depend on it
    }
  }

  /** Whether a worker directory of {@code pool} holds a lockfile whose process still runs (it is exiting). */
  private static boolean hasLiveWorker(Path pool) {
    try (DirectoryStream<Path> workers = Files.newDirectoryStream(pool)) {
      for (Path w : workers) {
        if (!Files.isDirectory(w, LinkOption.NOFOLLOW_LINKS)) {
          continue;
        }
        try (DirectoryStream<Path> locks = Files.newDirectoryStream(w, "*" + ServiceLayout.LOCKFILE_SUFFIX)) {
          for (Path lock : locks) {
            Optional<LockfileRecord> r = Lockfiles.read(lock);
            if (r.isPresent() && ProcessIdentity.startTime(r.get().pid()).isPresent()) {
              return true;
            }
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      return true; // unreadable: leave it for a later sweep
    }
    return false;
  }

  private static Optional<long[]> owner(String name) {
    String[] parts = name.split("\\.");
    if (parts.length != 3) {
      return Optional.empty();
    }
    try {
      return Optional.of(new long[] {Long.parseLong(parts[0])});
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  private static boolean alive(long pid, String name) {
    Optional<String> start = ProcessIdentity.startTime(pid);
    return start.isPresent() && name.startsWith(pid + "." + start.get() + ".");
  }

  /**
   * Removes {@code dir} and what it holds: regular files, sockets and subdirectories, never
   * following a link. Best effort: what cannot be removed (a link, a file another user owns) stays,
   * and so do its parents.
   */
  public static void remove(Path dir) {
    try {
      BasicFileAttributes a = Files.readAttributes(dir, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (!a.isDirectory()) {
        return;
      }
      try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
        for (Path e : entries) {
          BasicFileAttributes ea = Files.readAttributes(e, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
          if (ea.isDirectory()) {
            remove(e);
          } else if (!ea.isSymbolicLink()) {
            Files.deleteIfExists(e);
          }
        }
      }
      Files.deleteIfExists(dir);
    } catch (IOException e) {
      // left in place; the next sweep tries again
    }
  }
}
