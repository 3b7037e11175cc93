package dev.fastbind.broker.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import java.util.Properties;
import java.util.zip.CRC32;

/**
 * junixsocket's native library, kept once in the runtime directory for the daemons that take a
 * listener over the hand-off, so that their JVMs load it from there instead of extracting it from
 * the jar again: the extraction (a temporary file, written and then loaded) is about half of what
 * junixsocket's first use costs a fresh JVM, and a hand-off daemon pays it before it can accept.
 *
 * <p><b>Where.</b> {@code <runtime>/native/junixsocket-<version>-<crc32>.so}, in a directory of
 * its own (no service's file name can match it, so {@code clean} and {@code list} never see it).
 * The version is junixsocket's own, from its jar's Maven properties: a daemon runs the launcher's
 * class path, so it is the version the daemon would extract; a launcher with another junixsocket
 * finds no copy of its version and makes its own.
 *
 * <p><b>Trust.</b> A copy is used only when it is a regular file (never through a symbolic link),
 * owned by this user, writable by nobody else, and its content's CRC-32 is the one its name
 * records; the directory must be owner-only and not a link. Anything else is not used by
 * {@link #option}, and the daemon extracts the library as it would without a copy (junixsocket also
 * falls back to its own extraction when the file it is given cannot be loaded). {@link #remember}
 * never writes through what it finds: it writes a new file and renames it into place, so a damaged
 * copy of the same name is replaced, and anything else is left alone.
 *
 * <p><b>When.</b> {@link #remember} runs on the hand-off thread once the daemon serves and the
 * spawn lock is released, so it costs neither the launcher's {@code ensureRunning}, nor the daemon's
 * start, nor another launcher waiting on the lock; the first hand-off start in a runtime directory
 * goes without, every later one uses the copy. A temporary file a killed launcher left behind is
 * removed by a later {@code remember} once it is an hour old.
 */
public final class NativeLibraryCopy {

  /** The system property junixsocket takes the library's path from. */
  public static final String PROPERTY = "org.newsclub.net.unix.library.override";

  private static final String TEMP_PREFIX = ".junixsocket-";
  private static final String TEMP_SUFFIX = ".tmp";
  private static final long OLD_TEMP_MILLIS = 60L * 60 * 1000;

  /** The directory, in the runtime directory, that holds the copy. */
  public static final String DIRECTORY = "native";
  private static final String POM = "META-INF/maven/com.kohlschutter.junixsocket/junixsocket-common/pom.properties";
  private static final long MAX_BYTES = 8L << 20;

  private NativeLibraryCopy() {}

  /**
   * The JVM option for a hand-off daemon: {@code -D<property>=<copy>}, when a trusted copy of this
   * class path's junixsocket library is in {@code runtimeDir}.
   */
  public static Optional<String> option(Path runtimeDir) {
    Optional<String> version = version();
    if (version.isEmpty()) {
      return Optional.empty();
    }
    Path dir = runtimeDir.resolve(DIRECTORY);
    if (!ownerOnlyDirectory(dir)) {
      return Optional.empty(); // none yet, or one this class may not use
    }
    String prefix = "junixsocket-" + version.get() + "-";
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        if (!name.startsWith(prefix) || !name.endsWith(".so")) {
          continue;
        }
        String crc = name.substring(prefix.length(), name.length() - ".so".length());
        if (trusted(f, crc)) {
          return Optional.of("-D" + PROPERTY + "=" + f);
        }
      }
    } catch (IOException | RuntimeException e) {
      // unreadable: the daemon extracts the library as it would without a copy
    }
    return Optional.empty();
  }

  /**
   * Keeps a copy of this class path's junixsocket library in {@code runtimeDir} when there is none
   * yet; quietly does nothing when it cannot (no such resource, a directory it may not use).
   */
  public static void remember(Path runtimeDir) {
    if (option(runtimeDir).isPresent()) {
      return;
    }
    Optional<String> version = version();
    if (version.isEmpty()) {
      return;
    }
    // Where junixsocket's own loader looks on this platform (its jar's lib/<arch>-<os>-clang/jni/).
    String resource = "lib/" + System.getProperty("os.arch") + "-" + System.getProperty("os.name")
        + "-clang/jni/libjunixsocket-native-" + version.get() + ".so";
    Path dir = runtimeDir.resolve(DIRECTORY);
    // Unique per call (pid and clock), so two starts of this JVM never share one; made with CREATE_NEW.
    Path tmp = dir.resolve(TEMP_PREFIX + ProcessHandle.current().pid() + "-" + System.nanoTime() + TEMP_SUFFIX);
    boolean made = false;
    try (InputStream in = NativeLibraryCopy.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        return;
      }
      // Created owner-only when missing, else checked as the runtime directory itself is (refused
      // when a link, another user's, or open to others; never changed).
      dev.fastbind.backend.internal.RuntimeDirectory.ensureOwnerOnly(dir);
      CRC32 crc = new CRC32();
      long size = 0;
      removeOldTemps(dir);
      try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
          LinkOption.NOFOLLOW_LINKS)) {
        made = true;
        byte[] buf = new byte[16 * 1024];
        for (int n; (n = in.read(buf)) > 0; ) {
          size += n;
          if (size > MAX_BYTES) {
            throw new IOException("the library resource is larger than " + MAX_BYTES + " bytes");
          }
          crc.update(buf, 0, n);
          out.write(buf, 0, n);
        }
      }
      Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("r-x------"));
      Path copy = dir.resolve("junixsocket-" + version.get() + "-" + Long.toHexString(crc.getValue()) + ".so");
      Files.move(tmp, copy, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException | RuntimeException e) {
      // no copy this time: the next hand-off start tries again, and the daemon extracts meanwhile
    } finally {
      if (made) {
        try {
          Files.deleteIfExists(tmp); // gone already once renamed into place
        } catch (IOException e) {
          // left for removeOldTemps
        }
      }
    }
  }

  /** Removes this class's temporary files older than an hour (killed writers'); never a link or anything else. */
  private static void removeOldTemps(Path dir) {
    long now = System.currentTimeMillis();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        if (!name.startsWith(TEMP_PREFIX) || !name.endsWith(TEMP_SUFFIX)) {
          continue;
        }
        PosixFileAttributes a = Files.readAttributes(f, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (a.isRegularFile() && now - a.lastModifiedTime().toMillis() > OLD_TEMP_MILLIS) {
          Files.deleteIfExists(f);
        }
      }
    } catch (IOException | RuntimeException e) {
      // the next remember tries again
    }
  }

  /** junixsocket's version on this class path, from its jar's Maven properties. */
  static Optional<String> version() {
    Optional<String> v = version;
    if (v == null) {
      v = readVersion();
      version = v;
    }
    return v;
  }

  /** This class path's junixsocket version, read once per JVM (a jar entry and a Properties parse). */
  private static volatile Optional<String> version;

  /**
   * The copy this JVM last checked in full, by file key, size and modification time: a later spawn
   * that finds the same file unchanged skips reading and checksumming it again.
   */
  private record Checked(Path path, Object fileKey, long size, java.nio.file.attribute.FileTime modified) {}

  private static volatile Checked checked;

  private static Optional<String> readVersion() {
    ClassLoader loader = NativeLibraryCopy.class.getClassLoader();
    try (InputStream in = loader == null ? null : loader.getResourceAsStream(POM)) {
      if (in == null) {
        return Optional.empty();
      }
      Properties p = new Properties();
      p.load(in);
      String v = p.getProperty("version", "");
      return plainVersion(v) ? Optional.of(v) : Optional.empty();
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** Letters, digits, {@code . _ -}, at most 40: safe in a file name (no regex: launchers pay for its classes). */
  private static boolean plainVersion(String v) {
    if (v.isEmpty() || v.length() > 40) {
      return false;
    }
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-')) {
        return false;
      }
    }
    return true;
  }

  /** {@code unix:} attributes, unfollowed: mode and uid as numbers (no user-name look-up on the spawn path). */
  private static java.util.Map<String, Object> unix(Path p) throws IOException {
    return Files.readAttributes(p, "unix:mode,uid,size,ino,dev,lastModifiedTime", LinkOption.NOFOLLOW_LINKS);
  }

  /** Whether {@code dir} exists and passes the runtime directory's own check (which creates nothing when it exists). */
  private static boolean ownerOnlyDirectory(Path dir) {
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      return false;
    }
    try {
      dev.fastbind.backend.internal.RuntimeDirectory.ensureOwnerOnly(dir);
      return true;
    } catch (IOException e) {
      return false;
    }
  }


  private static boolean trusted(Path f, String crcHex) throws IOException {
    java.util.Map<String, Object> a = unix(f);
    int mode = (Integer) a.get("mode");
    long size = (Long) a.get("size");
    if ((mode & 0170000) != 0100000 || size == 0 || size > MAX_BYTES || (mode & 0022) != 0
        || ((Integer) a.get("uid")).longValue() != dev.fastbind.backend.internal.ProcessIdentity.currentUid()) {
      return false; // not a regular file, empty or huge, writable by others, or not ours
    }
    Checked now = new Checked(f, a.get("dev") + ":" + a.get("ino"), size,
        (java.nio.file.attribute.FileTime) a.get("lastModifiedTime"));
    if (now.equals(checked)) {
      return true; // the very file this JVM checked, unchanged since
    }
    // Opened as every runtime file is, so that nothing swapped in after the lstat can block the read,
    // and read no further than the size just seen (capped above).
    Optional<RuntimeFiles.Regular> open;
    try {
      open = RuntimeFiles.openRegular(f);
    } catch (dev.fastbind.broker.RuntimeFileException e) {
      return false;
    }
    if (open.isEmpty()) {
      return false;
    }
    try (RuntimeFiles.Regular r = open.get()) {
      byte[] bytes = r.read(0, (int) size);
      CRC32 crc = new CRC32();
      crc.update(bytes);
      boolean intact = bytes.length == size && Long.toHexString(crc.getValue()).equals(crcHex);
      if (intact) {
        checked = now;
      }
      return intact;
    } catch (dev.fastbind.broker.RuntimeFileException e) {
      return false;
    }
  }
}
