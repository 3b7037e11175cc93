package dev.fastbind.broker.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.OpenOption;
import java.util.Set;

/** The daemon's log: prepared before a spawn, and its tail read for error messages. */
public final class LogFiles {
  private LogFiles() {}

  /** Past this size the log is moved to {@code <log>.1} before the next spawn. */
  static final long ROTATE_BYTES = 1 << 20;
  private static final int TAIL_BYTES = 8192;
  private static final int TAIL_LINES = 20;

  /**
   * Makes sure {@code log} is a regular owner-only file (rotating it when large) and returns its
   * current size, from which {@link #tail} reads this spawn's output.
   *
   * @throws AccessDeniedException if the log path is a symbolic link or not a regular file
   */
  public static long prepare(Path log) throws IOException {
    if (Files.isSymbolicLink(log) || (Files.exists(log, LinkOption.NOFOLLOW_LINKS)
        && !Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS))) {
      throw new AccessDeniedException(log.toString(), null,
          "the daemon log must be a regular file, not a link or special file; remove it");
    }
    if (Files.exists(log, LinkOption.NOFOLLOW_LINKS) && Files.size(log) > ROTATE_BYTES) {
      Files.move(log, log.resolveSibling(log.getFileName() + ".1"), StandardCopyOption.REPLACE_EXISTING);
    }
    try (SeekableByteChannel ch = Files.newByteChannel(log,
        Set.<OpenOption>of(StandardOpenOption.CREATE, StandardOpenOption.APPEND, LinkOption.NOFOLLOW_LINKS),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
      return ch.size();
    }
  }

  /**
   * The last lines of {@code log} written after byte {@code from}, decoded leniently; empty if none.
   * Never throws: a log that cannot be read yields a note saying so.
   */
  public static String tail(Path log, long from) {
    try (SeekableByteChannel ch = Files.newByteChannel(log, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      long size = ch.size();
      long start = Math.max(Math.max(0, from), size - TAIL_BYTES);
      if (start >= size) {
        return "";
      }
      ByteBuffer buf = ByteBuffer.allocate((int) (size - start));
      ch.position(start);
      while (buf.hasRemaining() && ch.read(buf) > 0) {
        // reads until the buffer is full or the file ends
      }
      buf.flip();
      String text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPLACE)
          .onUnmappableCharacter(CodingErrorAction.REPLACE)
          .decode(buf).toString();
      String[] lines = text.split("\n", -1);
      int end = lines.length;
      if (end > 0 && lines[end - 1].isEmpty()) {
        end--;
      }
      int first = Math.max(start > Math.max(0, from) ? 1 : 0, end - TAIL_LINES);
      StringBuilder b = new StringBuilder();
      for (int i = first; i < end; i++) {
        b.append("  | ").append(lines[i]).append('\n');
      }
      return b.toString();
    } catch (NoSuchFileException e) {
      return "";
    } catch (IOException e) {
      return "  (log unreadable: " + e.getMessage() + ")\n";
    }
  }
}
