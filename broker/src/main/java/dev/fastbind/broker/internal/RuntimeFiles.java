package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.SocketHolders;
import dev.fastbind.broker.RuntimeFileException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The one way the broker touches the files of a runtime directory, which may be stale, corrupt, left
 * by another tool or planted by a same-user process: nothing found there can hang or exhaust a
 * launcher, nothing the broker did not make is deleted, and every error is a
 * {@link RuntimeFileException} whose one line names the path, what is there and the fix.
 *
 * <ul>
 *   <li><b>lstat first.</b> Every path is looked at without following links ({@link #lstat}) before
 *       it is opened; anything but a regular file is refused ({@link #refused}).
 *   <li><b>Opens that cannot block.</b> Files are opened without following links, and read-write:
 *       on Linux a read-write open of a FIFO returns at once, where a read-only or write-only one
 *       waits for the other end forever. The open channel is then checked through its descriptor: a
 *       seek fails on a FIFO, socket or terminal ({@code ESPIPE}), and reads are positional
 *       ({@code pread}), which fail the same way instead of waiting. So a FIFO swapped in between the
 *       lstat and the open is refused too. A regular file this user may not write (a JDK writes its
 *       class-data archives 0444) is opened read-only; only then does a window remain in which a
 *       FIFO swapped in by a racing process could block the open. Devices cannot be made without
 *       privileges, so only the lstat guards against them.
 *   <li><b>Capped reads.</b> {@link Regular#read} reads at most what the caller's format allows,
 *       whatever size the file claims.
 *   <li><b>Temp files.</b> {@link #replace} removes its temp file when a write fails (a full disk);
 *       {@link #removeStaleTemps} removes those that killed writers left behind.
 * </ul>
 */
public final class RuntimeFiles {
  private RuntimeFiles() {}

  /** What stands at a path, as {@code lstat} tells it. */
  public enum Kind {
    ABSENT("nothing"),
    REGULAR("a regular file"),
    DIRECTORY("a directory"),
    SYMLINK("a symbolic link"),
    SOCKET("a socket"),
    FIFO("a FIFO"),
    DEVICE("a device file"),
    OTHER("a special file");

    private final String phrase;

    Kind(String phrase) {
      this.phrase = phrase;
    }

    /** "a FIFO", "a symbolic link", …: for messages. */
    public String phrase() {
      return phrase;
    }
  }

  /** What one {@code lstat} saw at a path: the kind, the size it claimed and the file's identity (null when absent). */
  public record Found(Kind kind, long size, Object fileKey) {}

  private static final Found NOTHING = new Found(Kind.ABSENT, 0, null);
  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;
  private static final int S_IFIFO = 0010000;
  private static final int S_IFCHR = 0020000;
  private static final int S_IFBLK = 0060000;
  private static final Set<OpenOption> LOCK_FILE = Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE,
      StandardOpenOption.CREATE, LinkOption.NOFOLLOW_LINKS);
  private static final Set<OpenOption> NEW_FILE =
      Set.of(StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW, LinkOption.NOFOLLOW_LINKS);
  private static final String TMP_SUFFIX = ".tmp";

  /**
   * What is at {@code path}, with one {@code lstat} (a second one only to tell a socket, FIFO or
   * device apart).
   *
   * @throws RuntimeFileException if the path cannot be examined (a parent is not a directory, no permission)
   */
  public static Found lstat(Path path) throws RuntimeFileException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return NOTHING;
    } catch (IOException e) {
      throw failure(path, "examine", e);
    }
    return new Found(kind(path, a), a.size(), a.fileKey());
  }

  /** {@link #lstat}'s kind alone. */
  public static Kind kindOf(Path path) throws RuntimeFileException {
    return lstat(path).kind();
  }

  private static Kind kind(Path path, BasicFileAttributes a) {
    if (a.isRegularFile()) {
      return Kind.REGULAR;
    }
    if (a.isDirectory()) {
      return Kind.DIRECTORY;
    }
    if (a.isSymbolicLink()) {
      return Kind.SYMLINK;
    }
    try {
      int type = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS) & S_IFMT;
      switch (type) {
        case S_IFSOCK:
          return Kind.SOCKET;
        case S_IFIFO:
          return Kind.FIFO;
        case S_IFCHR:
        case S_IFBLK:
          return Kind.DEVICE;
        default:
          return Kind.OTHER;
      }
    } catch (IOException | RuntimeException e) {
      return Kind.OTHER; // gone in between, or no unix view: still not a file to open
    }
  }

  /**
   * The one-line refusal for {@code found} standing where {@code wanted} belongs, e.g. "runtime file
   * /run/user/1000/fastbind/svc.spawn-lock is a FIFO, not a regular file; remove it (fastbind never
   * deletes what it did not make)".
   */
  public static String refusal(Path path, Kind found, Kind wanted) {
    return "runtime file " + path + " is " + found.phrase() + ", not " + wanted.phrase()
        + "; remove it (fastbind never deletes what it did not make)";
  }

  /** {@link #refusal} as the exception to throw; nothing was changed. */
  public static RuntimeFileException refused(Path path, Kind found, Kind wanted) {
    return new RuntimeFileException(path, refusal(path, found, wanted), null);
  }

  /**
   * {@code e}, which came from trying to {@code action} {@code path}, as one line naming the path and
   * the fix. When the path now holds something other than a regular file (the cause of an
   * {@code ELOOP}, {@code EISDIR} or {@code ENOTEMPTY}), that is what the message says.
   */
  public static RuntimeFileException failure(Path path, String action, IOException e) {
    if (e instanceof RuntimeFileException r) {
      return r;
    }
    try {
      BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      Kind k = kind(path, a);
      if (k != Kind.REGULAR) {
        return new RuntimeFileException(path, refusal(path, k, Kind.REGULAR) + " [" + describe(e) + "]", e);
      }
    } catch (IOException | RuntimeException ignored) {
      // absent or not examinable: the general advice below
    }
    Path dir = path.toAbsolutePath().getParent();
    return new RuntimeFileException(path, "cannot " + action + " runtime file " + path + " (" + describe(e)
        + "): check that " + dir + " is a directory this user owns and can write, and that its file system has space",
        e);
  }

  private static String describe(IOException e) {
    String m = e instanceof FileSystemException f ? f.getReason() : e.getMessage();
    return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
  }

  /**
   * Opens the regular file at {@code file} for reading, or returns empty when nothing is there. The
   * call never blocks on what stands at the path (see the class comment).
   *
   * @throws RuntimeFileException if something other than a regular file is there, or it cannot be opened
   */
  public static Optional<Regular> openRegular(Path file) throws RuntimeFileException {
    return openRegular(file, lstat(file));
  }

  /** {@link #openRegular(Path)} once {@code lstat} has said {@code f}; a test passes another file's to stand for a swap. */
  static Optional<Regular> openRegular(Path file, Found f) throws RuntimeFileException {
    if (f.kind() == Kind.ABSENT) {
      return Optional.empty();
    }
    if (f.kind() != Kind.REGULAR) {
      throw refused(file, f.kind(), Kind.REGULAR);
    }
    FileChannel ch;
    try {
      ch = Lockfiles.openWithoutBlocking(file);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw failure(file, "open", e);
    }
    return Optional.of(new Regular(file, seekable(ch, file)));
  }


  /** {@code ch} if its descriptor can seek, so is no FIFO, socket or terminal; otherwise closes it and refuses. */
  private static FileChannel seekable(FileChannel ch, Path file) throws RuntimeFileException {
    try {
      ch.position();
      return ch;
    } catch (IOException e) {
      try {
        ch.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      Kind now = Kind.OTHER;
      try {
        Kind k = kindOf(file);
        now = k == Kind.REGULAR || k == Kind.ABSENT ? Kind.OTHER : k;
      } catch (RuntimeFileException ignored) {
        // say "a special file"
      }
      throw new RuntimeFileException(file, refusal(file, now, Kind.REGULAR), e);
    }
  }

  /** A regular file opened by {@link #openRegular}; reads are positional and capped. */
  public static final class Regular implements AutoCloseable {
    private final Path path;
    private final FileChannel channel;

    private Regular(Path path, FileChannel channel) {
      this.path = path;
      this.channel = channel;
    }

    /** The file's size now, from its descriptor. */
    public long size() throws RuntimeFileException {
      try {
        return channel.size();
      } catch (IOException e) {
        throw failure(path, "read", e);
      }
    }

    /** Up to {@code max} bytes from {@code offset}, fewer at the end of the file; never more, whatever the file's size. */
    public byte[] read(long offset, int max) throws RuntimeFileException {
      if (offset < 0 || max < 0) {
        throw new IllegalArgumentException("offset " + offset + ", max " + max);
      }
      ByteBuffer buf = ByteBuffer.allocate(max);
      try {
        while (buf.hasRemaining()) {
          if (channel.read(buf, offset + buf.position()) < 0) {
            break;
          }
        }
      } catch (IOException e) {
        throw failure(path, "read", e);
      }
      return buf.position() == max ? buf.array() : Arrays.copyOf(buf.array(), buf.position());
    }

    @Override
    public void close() throws RuntimeFileException {
      try {
        channel.close();
      } catch (IOException e) {
        throw failure(path, "close", e);
      }
    }
  }

  /**
   * Opens (creating it owner-only when absent) the lock file {@code file} read-write, for
   * {@link FileChannel#tryLock()}: never through a link, never blocking on a FIFO.
   *
   * @throws RuntimeFileException if something other than a regular file is there, or it cannot be opened
   */
  public static FileChannel openLockFile(Path file) throws RuntimeFileException {
    return openLockFile(file, lstat(file));
  }

  /** {@link #openLockFile(Path)} once {@code lstat} has said {@code f}. */
  static FileChannel openLockFile(Path file, Found f) throws RuntimeFileException {
    if (f.kind() != Kind.ABSENT && f.kind() != Kind.REGULAR) {
      throw refused(file, f.kind(), Kind.REGULAR);
    }
    FileChannel ch;
    try {
      ch = FileChannel.open(file, LOCK_FILE, ownerOnly());
    } catch (IOException e) {
      throw failure(file, "open", e);
    }
    return seekable(ch, file);
  }

  /**
   * Makes sure a regular file is at {@code file}, creating it empty and owner-only when nothing is
   * there (never opening what is), and returns what {@code lstat} then saw.
   *
   * @throws RuntimeFileException if something other than a regular file is there, or it cannot be created
   */
  public static Found createIfAbsent(Path file) throws RuntimeFileException {
    Found f = lstat(file);
    if (f.kind() == Kind.ABSENT) {
      try {
        FileChannel.open(file, NEW_FILE, ownerOnly()).close();
      } catch (FileAlreadyExistsException e) {
        // made by another process in between: look at what it is below
      } catch (IOException e) {
        throw failure(file, "create", e);
      }
      f = lstat(file);
    }
    if (f.kind() != Kind.REGULAR) {
      throw f.kind() == Kind.ABSENT
          ? new RuntimeFileException(file, "runtime file " + file + " vanished as it was created; retry, and find "
              + "the process that removes files in " + file.toAbsolutePath().getParent(), null)
          : refused(file, f.kind(), Kind.REGULAR);
    }
    return f;
  }

  /**
   * Replaces the regular file {@code file} (or creates it) with {@code bytes}, through the temp file
   * {@code tmp} in the same directory (created owner-only, never through a link) and a rename. A
   * leftover regular file at {@code tmp} is removed first, so callers hold a lock that keeps other
   * writers of {@code tmp} out. When a step fails, {@code tmp} is removed. No fsync: for files whose
   * loss costs little (a torn or empty file must read as a fresh start).
   *
   * @throws RuntimeFileException naming {@code file} and the fix; neither {@code file} nor anything but
   *     the temp file was changed
   */
  public static void replace(Path file, Path tmp, byte[] bytes) throws RuntimeFileException {
    Found target = lstat(file);
    if (target.kind() != Kind.ABSENT && target.kind() != Kind.REGULAR) {
      throw refused(file, target.kind(), Kind.REGULAR);
    }
    Found old = lstat(tmp);
    if (old.kind() == Kind.REGULAR) {
      delete(tmp);
    } else if (old.kind() != Kind.ABSENT) {
      throw refused(tmp, old.kind(), Kind.REGULAR);
    }
    boolean created = false;
    try {
      try (FileChannel ch = FileChannel.open(tmp, NEW_FILE, ownerOnly())) {
        created = true;
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
      }
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      created = false;
    } catch (IOException e) {
      RuntimeFileException r = failure(file, "write", e);
      if (created) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException suppressed) {
          r.addSuppressed(suppressed);
        }
      }
      throw r;
    }
  }

  /**
   * Deletes {@code file} if it is a regular file; leaves anything else (a link, a directory, a FIFO)
   * alone. Returns whether it deleted.
   */
  public static boolean deleteIfRegular(Path file) throws RuntimeFileException {
    if (kindOf(file) != Kind.REGULAR) {
      return false;
    }
    return delete(file);
  }

  private static boolean delete(Path file) throws RuntimeFileException {
    try {
      return Files.deleteIfExists(file);
    } catch (IOException e) {
      throw failure(file, "remove", e);
    }
  }

  /** What {@link #clearDeadSocket} found. */
  public enum SocketState {
    /** Nothing was at the path. */
    ABSENT,
    /** A socket file nobody listens on was there and is now removed. */
    REMOVED,
    /** A socket that accepts connections is there; it was left alone. */
    LIVE
  }

  /**
   * Removes the socket file at {@code path} if nothing listens on it (a connect fails and the kernel
   * shows no socket bound there, not even one that has yet to call {@code listen}). Anything that
   * is not a socket (a symbolic link, a directory, a regular file, a FIFO) is never removed: it is
   * refused with the path and the fix. The socket is removed only if the path still holds the same
   * file after the probe.
   *
   * @throws RuntimeFileException if something other than a socket is at {@code path}, or it cannot be removed
   */
  public static SocketState clearDeadSocket(Path path) throws RuntimeFileException {
    Found f = lstat(path);
    if (f.kind() == Kind.ABSENT) {
      return SocketState.ABSENT;
    }
    if (f.kind() != Kind.SOCKET) {
      throw refused(path, f.kind(), Kind.SOCKET);
    }
    if (Probe.connects(path)) {
      return SocketState.LIVE;
    }
    // A refused connect is not enough: a daemon between bind(2) and listen(2) refuses too, and its
    // file must not be taken from it. The kernel's table tells.
    SocketHolders.BindState bound = SocketHolders.stateOf(path);
    if (bound == SocketHolders.BindState.BOUND || bound == SocketHolders.BindState.LISTENING) {
      return SocketState.LIVE;
    }
    Found again = lstat(path);
    if (again.kind() == Kind.ABSENT) {
      return SocketState.ABSENT;
    }
    if (again.kind() != Kind.SOCKET || !Objects.equals(again.fileKey(), f.fileKey())) {
      return clearDeadSocket(path); // replaced while probed: look at the new one
    }
    delete(path);
    return SocketState.REMOVED;
  }

  /**
   * Removes the temp files that writers killed mid-write left for {@code paths}' service: lockfile
   * temps ({@code .<service>.lock.<writer pid, hex>-<random hex>.tmp}, as {@link Lockfiles#write}
   * names them) whose writer is no longer alive, and {@code <service>.spawns.tmp}. Only regular files
   * are removed; anything else with such a name is left alone. Call it holding the service's
   * {@link SpawnLock}, under which the spawns temp is written. Best effort (a temp file left behind
   * costs disk space, not correctness): never throws.
   *
   * @return the files removed
   */
  public static List<Path> removeStaleTemps(ServiceLayout paths) {
    List<Path> removed = new ArrayList<>();
    Path spawnsTmp = tempOf(paths.spawns());
    try {
      if (deleteIfRegular(spawnsTmp)) {
        removed.add(spawnsTmp);
      }
    } catch (RuntimeFileException e) {
      // left for the next write to report
    }
    String prefix = "." + paths.lockfile().getFileName() + ".";
    try (DirectoryStream<Path> files = Files.newDirectoryStream(paths.directory(),
        p -> lockfileTempWriter(p.getFileName().toString(), prefix) > 0)) {
      for (Path f : files) {
        long writer = lockfileTempWriter(f.getFileName().toString(), prefix);
        if (writer > 0 && ProcessHandle.of(writer).isEmpty()) {
          try {
            if (deleteIfRegular(f)) {
              removed.add(f);
            }
          } catch (RuntimeFileException e) {
            // best effort
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      // no such directory, or not listable: nothing to clean
    }
    return removed;
  }

  /** The writer pid in a lockfile temp name {@code <prefix><pid hex>-<random hex>.tmp}, or -1. */
  static long lockfileTempWriter(String name, String prefix) {
    if (!name.startsWith(prefix) || !name.endsWith(TMP_SUFFIX)) {
      return -1;
    }
    String middle = name.substring(prefix.length(), name.length() - TMP_SUFFIX.length());
    int dash = middle.indexOf('-');
    if (dash < 1 || dash > 16 || !isHex(middle, 0, dash) || !isHex(middle, dash + 1, middle.length())
        || middle.length() - dash - 1 > 16) {
      return -1;
    }
    long pid = Long.parseUnsignedLong(middle.substring(0, dash), 16);
    return pid > 0 ? pid : -1;
  }

  private static boolean isHex(String s, int from, int to) {
    if (from >= to) {
      return false;
    }
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
        return false;
      }
    }
    return true;
  }

  /** The temp file through which {@code file} is rewritten ({@link #replace}): {@code <file>.tmp}. */
  public static Path tempOf(Path file) {
    return file.resolveSibling(file.getFileName() + TMP_SUFFIX);
  }

  private static FileAttribute<?>[] ownerOnly() {
    return new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))};
  }
}
