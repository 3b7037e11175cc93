package dev.fastbind.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The one directory every benchmark variant, the C floor and the cold-start harness put their
 * sockets and lockfiles in, so that figures and floors are measured on the same filesystem.
 *
 * <p>The base comes from the system property {@value #PROPERTY} (set by {@code benchmarks/run}),
 * else {@code $XDG_RUNTIME_DIR}, else {@code /tmp}. Socket binds on tmpfs and on a disk filesystem
 * differ by 3 to 4 times, so every report names the {@linkplain #fileSystemType filesystem type}.
 * Each user of this class works in a fresh owner-only subdirectory it deletes when done; paths stay
 * short enough for the 107-byte Unix socket path limit.
 */
final class SocketDirectory {

  /** System property naming the base directory. */
  static final String PROPERTY = "fastbind.bench.dir";

  private SocketDirectory() {}

  /** The configured base directory. */
  static Path base() {
    String configured = System.getProperty(PROPERTY);
    if (configured != null && !configured.isBlank()) {
      return Path.of(configured);
    }
    String xdg = System.getenv("XDG_RUNTIME_DIR");
    return Path.of(xdg != null && !xdg.isBlank() ? xdg : "/tmp");
  }

  /** A fresh owner-only directory under {@link #base()}. */
  static Path create(String prefix) {
    try {
      return Files.createTempDirectory(base(), prefix,
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a benchmark directory under " + base(), e);
    }
  }

  /** The filesystem type of {@code dir}, as {@code stat -f -c %T} would name it (tmpfs, ext4, overlay...). */
  static String fileSystemType(Path dir) {
    try {
      return Files.getFileStore(dir).type();
    } catch (IOException e) {
      return "unknown (" + e.getMessage() + ")";
    }
  }

  /** Deletes {@code dir} and everything in it; best effort, for tear-down. */
  static void deleteTree(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException ignored) {
          // tear-down of a scratch directory; a leftover is harmless and visible
        }
      });
    } catch (IOException ignored) {
      // as above
    }
  }
}
