package dev.fastbind.broker.internal;

import dev.fastbind.broker.ServiceDefinition;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Class-data sharing for daemons started with {@link ServiceDefinition.Builder#javaMain}: a dynamic
 * CDS archive of the daemon's own classes (and the JDK classes it loads beyond the JDK's default
 * archive), kept in the owner-only runtime directory, so that every spawn after the first maps those
 * classes instead of loading, parsing and verifying them.
 *
 * <p><b>JDK 19 and later</b>: {@code -XX:SharedArchiveFile=<archive> -XX:+AutoCreateSharedArchive}.
 * The JVM uses the archive when it matches (same JDK, class path and jar files) and otherwise runs
 * without it and writes a fresh one when the daemon exits normally (a stop, {@code SHUTDOWN} or
 * {@code SIGTERM}; not {@code SIGKILL}).
 *
 * <p><b>JDK 17 and 18</b> have no automatic mode, so the broker chooses: with no usable archive the
 * daemon runs with {@code -XX:ArchiveClassesAtExit=<archive>} (it starts as fast as without and
 * writes the archive when it exits normally); with one, {@code -XX:SharedArchiveFile=<archive>}. A
 * JDK 17 JVM given a missing archive file runs without any class sharing, so that is never done; one
 * given a truncated archive can crash at start, so the broker checks the archive's magic number
 * first, and {@link dev.fastbind.broker.Broker} retries a daemon that dies before it is ready once
 * without the archive (and deletes it).
 *
 * <p><b>Names.</b> {@code <service>.<key>.jsa}, where the key is a hash of {@code java.home}, the VM
 * version, the class path and the daemon's JVM options, so launchers on different JDKs or class
 * paths each keep their own archive instead of overwriting each other's. On JDK 17 and 18 the name
 * also carries a hash of the class path's jar sizes and modification times
 * ({@code <service>.<key>-<stamp>.jsa}): the JVM cannot refresh a stale archive there, so a rebuilt
 * jar gets a new archive and the stale one of the same key is deleted.
 *
 * <p><b>When nothing is added</b>: the definition opted out; the daemon's JVM options already control
 * sharing ({@code -Xshare:off} or {@code :on}, {@code -XX:SharedArchiveFile}, {@code -XX:AOTCache}
 * and the like: the author decides); the JDK has no default CDS archive to build on; or the class
 * path holds a directory (the JVM cannot archive classes from directories, and JDK 25 exits with
 * status 1 when it tries). {@code -Xlog:cds*=off} keeps the JVM's notes about a stale or unusable
 * archive out of the daemon's log; a daemon option {@code -Xlog:cds} after it turns them back on.
 */
public final class SharedArchive {

  /** The first four bytes of a dynamic CDS archive (HotSpot's {@code CDS_DYNAMIC_ARCHIVE_MAGIC}), JDK 13 to 25. */
  static final int DYNAMIC_MAGIC = 0xf00baba8;

  private static final String SUFFIX = ".jsa";
  private static final String QUIET = "-Xlog:cds*=off";

  /** JVM options the daemon's author uses to run class sharing their own way; the broker then adds nothing. */
  private static final String[] OWN_SHARING = {
      "-Xshare:off", "-Xshare:on", "-Xshare:dump", "-XX:SharedArchiveFile", "-XX:ArchiveClassesAtExit",
      "-XX:+AutoCreateSharedArchive", "-XX:-AutoCreateSharedArchive", "-XX:SharedClassListFile",
      "-XX:DumpLoadedClassList", "-XX:-UseSharedSpaces", "-XX:AOTCache", "-XX:AOTCacheOutput", "-XX:AOTMode",
      "-XX:AOTConfiguration"};

  private SharedArchive() {}

  /**
   * What to add to a daemon's command line.
   *
   * @param options JVM options to put before the definition's own
   * @param archive the archive file; null when sharing is off ({@link #enabled()} is false)
   * @param readsArchive whether the JVM is told to map an existing archive (as opposed to only writing one)
   */
  public record Plan(List<String> options, Path archive, boolean readsArchive) {

    /** No class sharing beyond the JDK's own. */
    public static final Plan NONE = new Plan(List.of(), null, false);

    /** Whether this plan adds anything. */
    public boolean enabled() {
      return archive != null;
    }
  }

  /** The plan for spawning {@code def}'s daemon with this JVM's {@code java}, in runtime directory {@code dir}. */
  public static Plan plan(ServiceDefinition def, Path dir) {
    return plan(def, dir, System.getProperty("java.home", ""), System.getProperty("java.class.path", ""),
        Runtime.version().feature());
  }

  /** {@link #plan(ServiceDefinition, Path)} for a given JDK home, class path and JDK feature release. */
  static Plan plan(ServiceDefinition def, Path dir, String javaHome, String classPath, int feature) {
    if (!def.classDataSharing() || def.javaMainClass().isEmpty() || ownsSharing(def.javaOptions())) {
      return Plan.NONE;
    }
    List<Path> jars = jarsOnly(classPath);
    if (jars == null || !hasDefaultArchive(Path.of(javaHome))) {
      return Plan.NONE;
    }
    StringBuilder config = new StringBuilder(256).append(javaHome).append('\n')
        .append(System.getProperty("java.vm.version", "")).append('\n').append(classPath);
    for (String option : def.javaOptions()) {
      config.append('\n').append(option);
    }
    String key = hex(hash(config));
    Plan plan = feature >= 19
        ? automatic(dir.resolve(def.name() + '.' + key + SUFFIX))
        : twoPhase(dir, def.name() + '.' + key + '-', stamp(jars));
    prune(dir, def.name(), plan.archive(), Math.max(KEEP_PER_SERVICE, def.maxSideBySide() + 1),
        System.currentTimeMillis() - UNUSED_FOR.toMillis());
    return plan;
  }

  /** Archives of a service not used for this long are removed at its next spawn. */
  static final java.time.Duration UNUSED_FOR = java.time.Duration.ofDays(7);
  /** At most this many archives of one service are kept (or one more than its side-by-side bound). */
  static final int KEEP_PER_SERVICE = 4;

  /**
   * Removes {@code service}'s archives ({@code service.*.jsa}) of class paths or JDKs no longer in
   * use: those last used (the later of their modification and access times) before {@code cutoffMillis},
   * and, newest first, those beyond {@code keep}. {@code current}, the archive this spawn uses, always
   * stays. Regular files only, best effort. A daemon that maps an archive removed here keeps its
   * mapping (the file's blocks live until it exits); on a file system mounted {@code noatime} an
   * archive in steady use whose JVM never rewrites it can age out, and the next exit writes it anew.
   *
   * @return the archives removed
   */
  static List<Path> prune(Path dir, String service, Path current, int keep, long cutoffMillis) {
    List<Path> archives = new ArrayList<>();
    List<Long> used = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        if (!name.startsWith(service + '.') || !name.endsWith(SUFFIX) || f.equals(current)) {
          continue;
        }
        try {
          BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
          if (a.isRegularFile()) {
            archives.add(f);
            used.add(Math.max(a.lastModifiedTime().toMillis(), a.lastAccessTime().toMillis()));
          }
        } catch (IOException gone) {
          // vanished meanwhile
        }
      }
    } catch (IOException e) {
      return List.of();
    }
    Integer[] order = new Integer[archives.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, (x, y) -> Long.compare(used.get(y), used.get(x)));
    List<Path> removed = new ArrayList<>();
    int kept = current == null ? 0 : 1;
    for (Integer i : order) {
      if (used.get(i) >= cutoffMillis && kept < keep) {
        kept++;
        continue;
      }
      delete(archives.get(i));
      removed.add(archives.get(i));
    }
    return removed;
  }

  /** JDK 19+: the JVM validates, uses or rewrites the archive itself. */
  private static Plan automatic(Path archive) {
    State state = state(archive);
    if (state == State.OBSTRUCTED) {
      return Plan.NONE;
    }
    List<String> options = new ArrayList<>(3);
    options.add("-XX:SharedArchiveFile=" + archive);
    options.add("-XX:+AutoCreateSharedArchive");
    options.add(QUIET);
    return new Plan(List.copyOf(options), archive, state == State.USABLE);
  }

  /** JDK 17 and 18: map a good archive, or write one at exit; stale archives of this key are removed. */
  private static Plan twoPhase(Path dir, String prefix, String stamp) {
    Path archive = dir.resolve(prefix + stamp + SUFFIX);
    State state = state(archive);
    if (state == State.USABLE) {
      return new Plan(List.of("-XX:SharedArchiveFile=" + archive, QUIET), archive, true);
    }
    if (state == State.OBSTRUCTED) {
      return Plan.NONE;
    }
    deleteStale(dir, prefix, archive);
    return new Plan(List.of("-XX:ArchiveClassesAtExit=" + archive, QUIET), archive, false);
  }

  /** What an archive path holds, for {@link #plan}. */
  enum State {
    /** A regular file that starts like a dynamic archive. */
    USABLE,
    /** Nothing (any regular file that was not an archive has just been deleted). */
    MISSING,
    /**
     * A link, directory, FIFO or anything else that is not a regular file, or a path that cannot be
     * examined: left alone, and the daemon runs without an archive (a JVM told to map or write one
     * there would block on a FIFO or fail).
     */
    OBSTRUCTED
  }

  /** Whether {@code archive} is a regular file that starts like a dynamic archive; see {@link #state}. */
  static boolean usable(Path archive) {
    return state(archive) == State.USABLE;
  }

  /**
   * What is at {@code archive}. A regular file there that is not an archive (an empty file, a torn
   * write, a foreign file) is deleted so that a fresh archive replaces it; anything else is left
   * alone. The file is examined with {@code lstat} and only its first four bytes are read, through
   * {@link RuntimeFiles}, so nothing at the path can block or exhaust the launcher.
   */
  static State state(Path archive) {
    RuntimeFiles.Found f;
    try {
      f = RuntimeFiles.lstat(archive);
    } catch (IOException e) {
      return State.OBSTRUCTED;
    }
    if (f.kind() == RuntimeFiles.Kind.ABSENT) {
      return State.MISSING;
    }
    if (f.kind() != RuntimeFiles.Kind.REGULAR) {
      return State.OBSTRUCTED;
    }
    if (f.size() >= 4096 && startsWithMagic(archive)) {
      return State.USABLE;
    }
    delete(archive);
    return RuntimeFiles.Kind.ABSENT == kindOrOther(archive) ? State.MISSING : State.OBSTRUCTED;
  }

  private static RuntimeFiles.Kind kindOrOther(Path archive) {
    try {
      return RuntimeFiles.kindOf(archive);
    } catch (IOException e) {
      return RuntimeFiles.Kind.OTHER;
    }
  }

  private static boolean startsWithMagic(Path archive) {
    try {
      Optional<RuntimeFiles.Regular> opened = RuntimeFiles.openRegular(archive);
      if (opened.isEmpty()) {
        return false;
      }
      byte[] head;
      try (RuntimeFiles.Regular r = opened.get()) {
        head = r.read(0, 4);
      }
      return head.length == 4 && ByteBuffer.wrap(head).order(ByteOrder.nativeOrder()).getInt() == DYNAMIC_MAGIC;
    } catch (IOException e) {
      return false;
    }
  }

  /** Deletes {@code <prefix>*.jsa} files in {@code dir} other than {@code keep}: archives of older jars. */
  private static void deleteStale(Path dir, String prefix, Path keep) {
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        if (name.startsWith(prefix) && name.endsWith(SUFFIX) && !f.equals(keep)
            && Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
          delete(f);
        }
      }
    } catch (IOException e) {
      // Best effort: a stale archive left behind costs disk space, not correctness.
    }
  }

  /** Deletes an archive file if it is a regular file, best effort (the next spawn writes a new one). */
  public static void delete(Path archive) {
    try {
      RuntimeFiles.deleteIfRegular(archive);
    } catch (IOException e) {
      // A file we cannot delete is not mapped either: usable() refuses it again next time.
    }
  }

  static boolean ownsSharing(List<String> javaOptions) {
    for (String option : javaOptions) {
      for (String own : OWN_SHARING) {
        if (option.startsWith(own)) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * The class path's entries when none is a directory or a file other than a jar; null when one is
   * (or the path is empty). A non-jar file (a dependency's {@code .pom}, say) is left out of the archive
   * once the class loader has opened it and failed, and the JVM then refuses that archive for the class
   * path that holds it, so it would be written again at every exit and never used.
   */
  static List<Path> jarsOnly(String classPath) {
    List<Path> jars = new ArrayList<>();
    int from = 0;
    while (from <= classPath.length()) {
      int to = classPath.indexOf(File.pathSeparatorChar, from);
      if (to < 0) {
        to = classPath.length();
      }
      if (to > from) {
        Path entry = Path.of(classPath.substring(from, to));
        if (Files.isDirectory(entry) || (!isJarName(entry.getFileName()) && Files.isRegularFile(entry))) {
          return null;
        }
        jars.add(entry);
      }
      from = to + 1;
    }
    return jars.isEmpty() ? null : jars;
  }

  private static boolean isJarName(Path name) {
    String n = name == null ? "" : name.toString().toLowerCase(java.util.Locale.ROOT);
    return n.endsWith(".jar") || n.endsWith(".zip");
  }

  private static boolean hasDefaultArchive(Path javaHome) {
    Path server = javaHome.resolve("lib").resolve("server");
    return Files.isRegularFile(server.resolve("classes.jsa")) || Files.isRegularFile(server.resolve("classes_nocoops.jsa"));
  }

  /** A hash of the jars' sizes and modification times: what JDK 17 checks before it maps an archive. */
  private static String stamp(List<Path> jars) {
    StringBuilder b = new StringBuilder(jars.size() * 24);
    for (Path jar : jars) {
      try {
        BasicFileAttributes a = Files.readAttributes(jar, BasicFileAttributes.class);
        b.append(a.size()).append(':').append(a.lastModifiedTime().toMillis()).append(';');
      } catch (NoSuchFileException e) {
        b.append("-;");
      } catch (IOException e) {
        b.append("?;");
      }
    }
    return hex(hash(b)).substring(0, 8);
  }

  /** 64-bit FNV-1a over the characters: a stable file-name key, not a security measure. */
  private static long hash(CharSequence s) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      h = (h ^ (c & 0xff)) * 0x100000001b3L;
      h = (h ^ (c >>> 8)) * 0x100000001b3L;
    }
    return h;
  }

  private static String hex(long v) {
    String s = Long.toHexString(v);
    StringBuilder b = new StringBuilder(16);
    for (int i = s.length(); i < 16; i++) {
      b.append('0');
    }
    return b.append(s).substring(0, 12);
  }
}
