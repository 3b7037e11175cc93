package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The death records of one daemon slot ({@code s.death-<ended-at millis>-<pid>}, next to its
 * lockfile {@code s.lock}, or {@code s~<id>.death-…} beside it): written atomically as
 * {@link Lockfiles#write} writes a lockfile, read without following links, and bounded: writing one
 * keeps only the newest {@value #KEEP} of the slot. The format is {@link DeathRecordCodec}'s.
 */
public final class DeathRecords {
  private DeathRecords() {}

  /** How many records one slot keeps; older ones are removed when a new one is written. */
  public static final int KEEP = 5;
  /** The marker between a slot's prefix and a record's time and pid. */
  public static final String INFIX = ".death-";
  private static final int TAIL_BYTES = 8192;
  private static final int TAIL_LINES = 20;

  /** The prefix of {@code lockfile}'s slot: {@code s} for {@code s.lock}. */
  public static String prefixOf(Path lockfile) {
    String name = lockfile.getFileName().toString();
    return name.endsWith(ServiceLayout.LOCKFILE_SUFFIX)
        ? name.substring(0, name.length() - ServiceLayout.LOCKFILE_SUFFIX.length()) : name;
  }

  /**
   * Writes {@code e} as the newest record of {@code lockfile}'s slot and removes the slot's records
   * beyond {@value #KEEP}.
   *
   * @throws IOException if the record cannot be written (nothing but its temp file is removed then)
   */
  public static Path write(Path lockfile, DeathRecordCodec.Entry e) throws IOException {
    Path dir = lockfile.toAbsolutePath().getParent();
    String millis = Long.toString(Math.max(0, e.endedAtMillis()));
    String name = prefixOf(lockfile) + INFIX + "0".repeat(Math.max(0, 13 - millis.length())) + millis + "-" + e.pid();
    Path target = dir.resolve(name);
    Path tmp = dir.resolve("." + name + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
    byte[] bytes = DeathRecordCodec.encode(e);
    try {
      try (FileChannel ch = FileChannel.open(tmp, Set.<OpenOption>of(StandardOpenOption.WRITE,
          StandardOpenOption.CREATE_NEW, LinkOption.NOFOLLOW_LINKS), ownerOnly(dir))) {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
      }
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException | RuntimeException ex) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException suppressed) {
        ex.addSuppressed(suppressed);
      }
      throw ex;
    }
    List<Path> all = files(lockfile);
    for (int i = KEEP; i < all.size(); i++) {
      deleteIfRegular(all.get(i));
    }
    return target;
  }

  /** The slot's record files, newest first (regular files only; a link is never listed). */
  public static List<Path> files(Path lockfile) throws IOException {
    Path dir = lockfile.toAbsolutePath().getParent();
    String prefix = prefixOf(lockfile) + INFIX;
    List<Path> out = new ArrayList<>();
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      return out;
    }
    try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, p -> p.getFileName().toString().startsWith(prefix))) {
      for (Path p : s) {
        if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
          out.add(p);
        }
      }
    }
    out.sort((a, b) -> b.getFileName().toString().compareTo(a.getFileName().toString()));
    return out;
  }

  /** The slot's readable records, newest first; unreadable or foreign files are skipped. */
  public static List<DeathRecordCodec.Entry> list(Path lockfile) throws IOException {
    List<DeathRecordCodec.Entry> out = new ArrayList<>();
    for (Path p : files(lockfile)) {
      read(p).ifPresent(out::add);
    }
    return out;
  }

  /** The slot's newest readable record. */
  public static Optional<DeathRecordCodec.Entry> latest(Path lockfile) throws IOException {
    for (Path p : files(lockfile)) {
      Optional<DeathRecordCodec.Entry> e = read(p);
      if (e.isPresent()) {
        return e;
      }
    }
    return Optional.empty();
  }

  /** Whether the slot holds a record of {@code instanceId}. */
  public static boolean hasRecordOf(Path lockfile, String instanceId) throws IOException {
    for (DeathRecordCodec.Entry e : list(lockfile)) {
      if (e.instanceId().equals(instanceId)) {
        return true;
      }
    }
    return false;
  }

  /** The record in {@code file}; empty if it is not a regular file or not a valid record. */
  public static Optional<DeathRecordCodec.Entry> read(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      long size = ch.size();
      if (size > DeathRecordCodec.MAX_BYTES || !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
        return Optional.empty();
      }
      ByteBuffer buf = ByteBuffer.allocate((int) size);
      while (buf.hasRemaining() && ch.read(buf, buf.position()) > 0) {
        // positional reads fill the buffer
      }
      return Optional.of(DeathRecordCodec.decode(buf.array()));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** The last lines of {@code log} (at most 8 KiB read, 20 lines), or "" when it cannot be read. */
  public static String tail(Path log) {
    try (FileChannel ch = FileChannel.open(log, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      if (!Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS)) {
        return "";
      }
      long size = ch.size();
      long start = Math.max(0, size - TAIL_BYTES);
      ByteBuffer buf = ByteBuffer.allocate((int) (size - start));
      while (buf.hasRemaining() && ch.read(buf, start + buf.position()) > 0) {
        // fill
      }
      buf.flip();
      String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
          .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(buf).toString();
      String[] lines = text.split("\n", -1);
      int end = lines.length > 0 && lines[lines.length - 1].isEmpty() ? lines.length - 1 : lines.length;
      int from = Math.max(start > 0 ? 1 : 0, end - TAIL_LINES);
      return from >= end ? "" : String.join("\n", java.util.Arrays.asList(lines).subList(from, end));
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  /**
   * The JVM's fatal-error log of {@code pid} ({@code hs_err_pid<pid>.log}), looked for in the
   * directories given (the daemon's working directory, which is the runtime directory by default).
   */
  public static Optional<Path> hsErr(long pid, Path... dirs) {
    for (Path d : dirs) {
      if (d == null) {
        continue;
      }
      Path p = d.resolve("hs_err_pid" + pid + ".log");
      if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
        return Optional.of(p.toAbsolutePath());
      }
    }
    return Optional.empty();
  }

  /** Whether {@code tail} or the fatal-error log shows that the JVM ran out of memory. */
  public static boolean outOfMemory(String tail, Optional<Path> hsErr) {
    if (tail.contains("OutOfMemoryError")) {
      return true;
    }
    if (hsErr.isPresent()) {
      try (FileChannel ch = FileChannel.open(hsErr.get(), StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(ch.size(), 16384));
        ch.read(buf, 0);
        String head = new String(buf.array(), 0, buf.position(), StandardCharsets.ISO_8859_1);
        return head.contains("Out of Memory") || head.contains("OutOfMemory") || head.contains("out of memory");
      } catch (IOException | RuntimeException e) {
        return false;
      }
    }
    return false;
  }

  /** Deletes {@code p} if it is a regular file (never a link); false if it was not. */
  public static boolean deleteIfRegular(Path p) {
    try {
      BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (!a.isRegularFile()) {
        return false;
      }
      Files.delete(p);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static FileAttribute<?>[] ownerOnly(Path dir) {
    if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      return new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))};
    }
    return new FileAttribute<?>[0];
  }
}
