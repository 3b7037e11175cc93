package dev.fastbind.conformance.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.broker.ServiceDefinition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What stands in a service's runtime directory, as the rules about files left behind see it: the
 * broker's own bookkeeping files ({@code SERVICE.log} and its rotations, {@code SERVICE.spawn-lock},
 * {@code SERVICE.spawns}, death records {@code SERVICE.death-…}) apart from the daemon's.
 */
public final class RuntimeFiles {

  private RuntimeFiles() {}

  /** The names in {@code dir}, sorted. */
  public static Set<String> listNames(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
    }
  }

  /** The names in {@code def}'s runtime directory other than the broker's bookkeeping files. */
  public static Set<String> ownFiles(ServiceDefinition def) throws IOException {
    Set<String> names = listNames(def.runtimeDirectory().orElseThrow());
    names.removeAll(bookkeeping(def));
    // Death records (SERVICE.death-…) and rotated logs (SERVICE.log.N) are bookkeeping too.
    names.removeIf(n -> n.startsWith(def.name() + dev.fastbind.backend.internal.DeathRecords.INFIX)
        || n.matches(java.util.regex.Pattern.quote(def.name()) + "\\.log\\.[0-9]+"));
    return names;
  }

  /**
   * What a stopped daemon left in {@code def}'s runtime directory: everything but the broker's
   * bookkeeping files, its class-data sharing archives ({@code SERVICE.KEY.jsa}) and its kept copy
   * of junixsocket's library for hand-off daemons ({@code native/}).
   */
  public static Set<String> leftAfterStop(ServiceDefinition def) throws IOException {
    Set<String> left = ownFiles(def);
    left.removeIf(n -> n.startsWith(def.name() + ".") && n.endsWith(".jsa"));
    left.remove(dev.fastbind.broker.internal.NativeLibraryCopy.DIRECTORY);
    return left;
  }

  /** The broker's bookkeeping files missing from {@code def}'s runtime directory, sorted. */
  public static List<String> missingBookkeeping(ServiceDefinition def) {
    Path runtime = def.runtimeDirectory().orElseThrow();
    return bookkeeping(def).stream().sorted()
        .filter(name -> !Files.exists(runtime.resolve(name), LinkOption.NOFOLLOW_LINKS)).toList();
  }

  /** The names of the broker's bookkeeping files of {@code def}, from the one layout ({@link ServiceLayout}). */
  private static Set<String> bookkeeping(ServiceDefinition def) {
    ServiceLayout layout;
    try {
      layout = ServiceLayout.of(def.name(), def.runtimeDirectory().orElseThrow());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e); // the broker already used this layout for the daemon
    }
    return Set.of(layout.log().getFileName().toString(), layout.spawnLock().getFileName().toString(),
        layout.spawns().getFileName().toString());
  }

  /** The file key (device and inode) of what stands at {@code path}, unfollowed; empty if unreadable. */
  public static Optional<Object> fileKey(Path path) {
    try {
      return Optional.ofNullable(
          Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey());
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /**
   * The identity of what stands at {@code path}, unfollowed: device, inode and change time, so that a
   * file deleted and made anew is told apart even when the file system reuses the inode number (as
   * ext4 and tmpfs do at once); empty if unreadable.
   */
  public static Optional<Object> identity(Path path) {
    try {
      java.util.Map<String, Object> a = Files.readAttributes(path, "unix:dev,ino,ctime", LinkOption.NOFOLLOW_LINKS);
      return Optional.of(List.of(a.get("dev"), a.get("ino"), a.get("ctime")));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }
}
