package dev.fastbind.broker.internal;

import dev.fastbind.broker.RuntimeFileException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * The daemon's log: prepared before a spawn, and its tail read for error messages. Both go through
 * {@link RuntimeFiles}: a link, directory or FIFO at the log's path is reported, never opened, and
 * the tail reads at most {@value #TAIL_BYTES} bytes however large the log is.
 */
public final class LogFiles {
  private LogFiles() {}

  /** Past this size the log is moved to {@code <log>.1} before the next spawn. */
  static final long ROTATE_BYTES = 1 << 20;
  private static final int TAIL_BYTES = 8192;
  private static final int TAIL_LINES = 20;

  /**
   * Makes sure {@code log} is a regular owner-only file (rotating it when large) and returns its
   * current size, from which {@link #tail} reads this spawn's output. The log is never opened here:
   * it is created when absent, and its size comes from {@code lstat}.
   *
   * @throws RuntimeFileException if the log path (or {@code <log>.1}, when rotating) holds something
   *     other than a regular file, or the log cannot be created or rotated
   */
  public static long prepare(Path log) throws IOException {
    return prepare(log, 1);
  }

  /**
   * {@link #prepare(Path)} keeping {@code generations} older logs: a rotation shifts {@code <log>.1}
   * to {@code <log>.2} and so on, and drops the oldest, as the daemon's own rotation does while it
   * runs ({@code LogWatch}); with 0 generations the old log is removed.
   */
  public static long prepare(Path log, int generations) throws IOException {
    RuntimeFiles.Found f = RuntimeFiles.createIfAbsent(log);
    if (f.size() <= ROTATE_BYTES) {
      return f.size();
    }
    int keep = Math.max(1, generations);
    for (int g = 1; g <= keep; g++) {
      Path old = log.resolveSibling(log.getFileName() + "." + g);
      RuntimeFiles.Kind k = RuntimeFiles.kindOf(old);
      if (k != RuntimeFiles.Kind.ABSENT && k != RuntimeFiles.Kind.REGULAR) {
        throw RuntimeFiles.refused(old, k, RuntimeFiles.Kind.REGULAR);
      }
    }
    try {
      for (int g = keep - 1; g >= 1; g--) {
        Path older = log.resolveSibling(log.getFileName() + "." + g);
        if (RuntimeFiles.kindOf(older) == RuntimeFiles.Kind.REGULAR) {
          Files.move(older, log.resolveSibling(log.getFileName() + "." + (g + 1)), StandardCopyOption.REPLACE_EXISTING);
        }
      }
      Path first = log.resolveSibling(log.getFileName() + ".1");
      if (generations == 0) {
        RuntimeFiles.deleteIfRegular(log);
      } else {
        Files.move(log, first, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw RuntimeFiles.failure(log.resolveSibling(log.getFileName() + ".1"), "rotate the log to", e);
    }
    return RuntimeFiles.createIfAbsent(log).size();
  }

  /**
   * The last lines of {@code log} written after byte {@code from}, decoded leniently; empty if none.
   * Never throws: a log that cannot be read yields a note saying so.
   */
  public static String tail(Path log, long from) {
    try {
      Optional<RuntimeFiles.Regular> opened = RuntimeFiles.openRegular(log);
      if (opened.isEmpty()) {
        return "";
      }
      byte[] bytes;
      long start;
      try (RuntimeFiles.Regular r = opened.get()) {
        long size = r.size();
        start = Math.max(Math.max(0, from), size - TAIL_BYTES);
        if (start >= size) {
          return "";
        }
        bytes = r.read(start, (int) (size - start));
      }
      String text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPLACE)
          .onUnmappableCharacter(CodingErrorAction.REPLACE)
          .decode(ByteBuffer.wrap(bytes)).toString();
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
    } catch (IOException e) {
      return "  (log unreadable: " + e.getMessage() + ")\n";
    }
  }
}
