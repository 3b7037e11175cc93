package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.LockfileException;
import dev.fastbind.backend.internal.wire.LockfileCodec;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.BindException;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.LockfileException.Reason;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
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
import java.util.Arrays;
import java.util.HashSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32;

/**
 * The lockfile on disk: {@link #write} is atomic (temp file, fsync, rename, directory fsync) and
 * creates the file owner-only; {@link #read} never follows symbolic links, cannot block on a FIFO and
 * caps what it reads at {@link LockfileCodec#MAX_BYTES} bytes. Both are safe to call from any thread;
 * concurrent readers of a file being rewritten see either the old or the new complete record. The
 * format itself is {@link LockfileCodec}'s.
 */
public final class Lockfiles {

  private static final String TMP_SUFFIX = ".tmp";
  private static final Set<OpenOption> READ_NO_LINKS = Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
  private static final Set<OpenOption> READ_WRITE_NO_LINKS =
      Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);

  private Lockfiles() {}

  /**
   * Writes {@code r} to {@code file} atomically: readers see the old complete file or the new one,
   * never a mix, and an existing lockfile is replaced.
   *
   * <p>The bytes go to a new temp file in the same directory, created owner-only (0600 at creation)
   * and without following links, forced to disk, then renamed over {@code file}; the directory is
   * then forced on a best-effort basis. On failure only that temp file is deleted, nothing else.
   *
   * @throws IOException naming {@code file} and what to do, if any step fails
   */
  public static void write(Path file, LockfileRecord r) throws IOException {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(r, "r");
    Path target = file.toAbsolutePath();
    Path dir = target.getParent();
    if (dir == null || target.getFileName() == null) {
      throw new IOException("cannot write lockfile " + file + ": the path must name a file in a directory");
    }
    byte[] bytes = LockfileCodec.encode(r);
    Path tmp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(ProcessIdentity.currentPid())
        + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong()) + TMP_SUFFIX);
    boolean created = false;
    try {
      try (FileChannel ch = FileChannel.open(tmp, Set.<OpenOption>of(StandardOpenOption.WRITE,
          StandardOpenOption.CREATE_NEW, LinkOption.NOFOLLOW_LINKS), ownerOnlyFile(dir))) {
        created = true;
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      created = false;
    } catch (IOException | RuntimeException e) {
      if (created) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      if (e instanceof RuntimeException re) {
        throw re;
      }
      throw new IOException(writeFailure(target, dir, tmp, (IOException) e), e);
    }
    forceDirectory(dir);
  }

  private static String writeFailure(Path target, Path dir, Path tmp, IOException e) {
    String what = "cannot write lockfile " + target + " (" + describe(e) + "): ";
    if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
      return what + "a directory stands at that path; remove it or use another runtime directory";
    }
    if (!Files.isDirectory(dir)) {
      return what + "the directory " + dir + " does not exist; create it (owner-only) or use another runtime directory";
    }
    if (e instanceof FileAlreadyExistsException) {
      return what + "the temp file name " + tmp + " is taken; retry";
    }
    return what + "check that " + dir + " is writable by this user and its file system has space";
  }

  private static String describe(IOException e) {
    String m = e.getMessage();
    return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
  }

  private static FileAttribute<?>[] ownerOnlyFile(Path dir) {
    if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      return new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))};
    }
    return new FileAttribute<?>[0];
  }

  private static void forceDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | RuntimeException e) {
      // Best effort: some platforms cannot open or sync a directory; the rename has happened.
    }
  }

  /**
   * Reads the lockfile at {@code file}; empty when no file is there.
   *
   * <p>A symbolic link at the path is refused, never followed, and so is anything else that is not a
   * regular file. At most {@value #MAX_BYTES} bytes are read. The file is checked ({@code lstat}) and
   * then opened without following links; if it is swapped for something else in between, the open,
   * the read or the decode refuses it. Nothing at the path can block the call: the open is
   * read-write (on Linux a read-write open of a FIFO returns at once, where a read-only one waits for
   * a writer) and the reads are positional, which fail on a FIFO ({@code ESPIPE}) instead of waiting.
   * A lockfile this user may not write is opened read-only, which only a FIFO swapped in by a racing
   * process between the check and the open could block. The file is never written.
   *
   * @throws LockfileException if a file is there but is not a valid lockfile this code can read
   */
  public static Optional<LockfileRecord> read(Path file) throws LockfileException {
    Objects.requireNonNull(file, "file");
    BasicFileAttributes attrs;
    try {
      attrs = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw unreadable(file, e);
    }
    return read(file, attrs);
  }

  /** {@link #read(Path)} once {@code lstat} has said {@code attrs}; a test passes attributes of another file to stand for a swap. */
  static Optional<LockfileRecord> read(Path file, BasicFileAttributes attrs) throws LockfileException {
    checkType(file, attrs);
    byte[] bytes;
    try (FileChannel ch = openWithoutBlocking(file)) {
      ByteBuffer buf = ByteBuffer.allocate((int) Math.min(Math.max(attrs.size(), 0) + 1, LockfileCodec.MAX_BYTES + 1L));
      while (true) {
        if (!buf.hasRemaining()) {
          if (buf.capacity() > LockfileCodec.MAX_BYTES) {
            throw LockfileCodec.tooLarge(file);
          }
          ByteBuffer bigger = ByteBuffer.allocate(Math.min(buf.capacity() * 2, LockfileCodec.MAX_BYTES + 1));
          buf.flip();
          bigger.put(buf);
          buf = bigger;
        }
        // Done at end of file, or once exactly the size lstat saw is in and a read stopped short of the
        // one spare byte: a file that grew in between fills the spare byte and is read on.
        if (ch.read(buf, buf.position()) < 0 || buf.position() == attrs.size() && buf.hasRemaining()) {
          break;
        }
      }
      bytes = buf.position() == buf.capacity() ? buf.array() : Arrays.copyOf(buf.array(), buf.position());
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (LockfileException e) {
      throw e;
    } catch (IOException e) {
      try {
        checkType(file, Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS));
      } catch (LockfileException swapped) {
        throw swapped;
      } catch (IOException ignored) {
        // Report the original failure below.
      }
      throw unreadable(file, e);
    }
    return Optional.of(LockfileCodec.decode(bytes, file));
  }


  private static void checkType(Path file, BasicFileAttributes attrs) throws LockfileException {
    if (attrs.isSymbolicLink()) {
      throw new LockfileException(Reason.SYMLINK, file, "lockfile " + file
          + " is a symbolic link; lockfiles are never followed through links: delete the link", null);
    }
    if (!attrs.isRegularFile()) {
      throw new LockfileException(Reason.NOT_A_REGULAR_FILE, file, "lockfile " + file + " is "
          + (attrs.isDirectory() ? "a directory" : "not a regular file")
          + ", so no daemon wrote it: remove it or use another runtime directory", null);
    }
    if (attrs.size() > LockfileCodec.MAX_BYTES) {
      throw LockfileCodec.tooLarge(file);
    }
  }



  private static LockfileException unreadable(Path file, IOException e) {
    return new LockfileException(Reason.UNREADABLE, file, "lockfile " + file + " cannot be read ("
        + describe(e) + "): check its owner and permissions, or delete it", e);
  }

  /**
   * Deletes {@code file} only if it is a valid lockfile naming {@code instanceId}; used by a daemon
   * at shutdown so that a successor's lockfile is left alone.
   *
   * <p>The file's identity (its file key) is read before and after its contents, and the delete
   * happens only if both agree with the instance id. A small race remains: a successor that renames
   * its own lockfile into place between that last check and the unlink loses its lockfile. The
   * successor keeps running and keeps its endpoint; a broker then finds no lockfile, takes its cold
   * path and finds the endpoint taken. Closing the window needs an unlink-by-descriptor the JDK
   * does not offer, or the broker's per-service lock held around shutdown.
   *
   * @return true if this call deleted the file; false if it was absent, invalid, unreadable, named
   *     another instance, changed during the check, or could not be deleted
   */
  public static boolean deleteIfOwnedBy(Path file, String instanceId) {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(instanceId, "instanceId");
    try {
      Object before = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
      Optional<LockfileRecord> r = read(file);
      if (r.isEmpty() || !r.get().instanceId().equals(instanceId)) {
        return false;
      }
      Object after = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
      if (!Objects.equals(before, after)) {
        return false;
      }
      Files.delete(file);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * Opens {@code file} without following a link, read-write: on Linux a read-write open of a FIFO
   * returns at once, where a read-only one waits for a writer forever (a FIFO swapped in after the
   * caller's {@code lstat} cannot hang it). Falls back to read-only for a file this user may not
   * write (EACCES, EROFS, EPERM); only then could a FIFO raced in still block. The caller checks
   * that the channel can seek (a FIFO, socket or terminal cannot) before it trusts it.
   *
   * <p>Here rather than in a class of its own: a daemon out of descriptors still reads its lockfile
   * back as it exits, and could not load a new class then.
   *
   * @throws NoSuchFileException if nothing is there
   */
  public static FileChannel openWithoutBlocking(Path file) throws IOException {
    try {
      return FileChannel.open(file, READ_WRITE_NO_LINKS);
    } catch (NoSuchFileException e) {
      throw e;
    } catch (FileSystemException e) {
      // EACCES, EROFS, EPERM; EISDIR, ENXIO and the like fail again, or at the first read
      return FileChannel.open(file, READ_NO_LINKS);
    }
  }
}
