package dev.fastbind.cli;

import dev.fastbind.broker.ServiceDefinition;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code fastbind logs SERVICE [-f]}: the tail of {@code SERVICE.log} (or {@code SERVICE~id.log} of a
 * daemon beside the first), and with {@code -f} what is appended to it until Ctrl-C. When the log is
 * rotated ({@code SERVICE.log} moved to {@code SERVICE.log.1} and a new one started) the old file is
 * read to its end first, a notice is written to stderr, and the new file is followed from its start;
 * a log truncated in place is followed from its new start. Only regular files are read: a link at the
 * log's path is refused, as the broker refuses it.
 */
@Command(name = "logs", description = "Prints the tail of a service's log; -f follows it (Ctrl-C ends).")
final class LogsCommand implements Callable<Integer> {

  @ParentCommand Fastbind root;

  @Parameters(index = "0", paramLabel = "SERVICE",
      description = "The service name, or SERVICE~ID for a daemon beside the service's first one.")
  String slot;

  @Option(names = {"-f", "--follow"}, description = "Keep printing what is appended, until Ctrl-C.")
  boolean follow;

  @Option(names = {"-n", "--lines"}, paramLabel = "N", defaultValue = "20",
      description = "How many of the last lines to print first (default ${DEFAULT-VALUE}).")
  int lines;

  /** How often a followed log is looked at: what {@code tail -f} does without inotify. */
  private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  private static final int TAIL_WINDOW = 1 << 20;

  private PrintWriter out;
  private PrintWriter err;
  private Path log;

  @Override
  public Integer call() throws Exception {
    int sep = slot.indexOf('~');
    ServiceDefinition.checkName(sep < 0 ? slot : slot.substring(0, sep));
    if (sep >= 0 && !slot.substring(sep + 1).matches("[0-9a-f]{16}")) {
      throw new IllegalArgumentException("'" + slot + "' is not a side-by-side daemon's name: SERVICE~ID takes the"
          + " 16 hex digits of its files' names (see fastbind list)");
    }
    if (lines < 0) {
      throw new IllegalArgumentException("--lines must not be negative, got " + lines);
    }
    out = root.spec.commandLine().getOut();
    err = root.spec.commandLine().getErr();
    log = root.directory().resolve(slot + ".log");
    Path previous = log.resolveSibling(log.getFileName() + ".1");
    Path shown = log;
    if (!exists(log)) {
      if (!follow && exists(previous)) {
        shown = previous;
        err.println("fastbind logs: " + log + " does not exist; showing the previous generation " + previous);
      } else if (!follow) {
        err.println("fastbind logs: no log for '" + slot + "' at " + log);
        if (root.json) {
          Map<String, Object> doc = Fastbind.document("logs");
          doc.put("file", log.toString());
          doc.put("exists", false);
          doc.put("lines", List.of());
          out.println(Json.write(doc));
        }
        return Fastbind.NOT_RUNNING;
      }
    }
    long from = 0;
    Object key = null;
    if (exists(shown)) {
      checkRegular(shown);
      try (FileChannel ch = FileChannel.open(shown, StandardOpenOption.READ)) {
        key = Files.readAttributes(shown, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        from = ch.size();
        List<String> tail = tail(ch, from, lines);
        if (root.json && !follow) {
          Map<String, Object> doc = Fastbind.document("logs");
          doc.put("file", shown.toString());
          doc.put("exists", true);
          doc.put("lines", tail);
          out.println(Json.write(doc));
        } else {
          for (String l : tail) {
            line(shown, l);
          }
        }
      }
    }
    if (!follow) {
      return Fastbind.OK;
    }
    follow(from, key);
    return Fastbind.OK;
  }

  /** Follows {@link #log} from byte {@code pos} of the file whose key is {@code key} (null: not open yet). */
  private void follow(long pos, Object key) throws IOException {
    FileChannel ch = null;
    Path open = log;
    StringBuilder partial = new StringBuilder();
    try {
      if (key != null) {
        ch = FileChannel.open(log, StandardOpenOption.READ);
        Object now = Files.readAttributes(log, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        if (!Objects.equals(now, key)) {
          ch.close();
          ch = null; // replaced between the tail and now: start the new one from its beginning
          pos = 0;
        }
      }
      while (!Thread.currentThread().isInterrupted()) {
        if (ch == null) {
          if (exists(log)) {
            checkRegular(log);
            try {
              ch = FileChannel.open(log, StandardOpenOption.READ);
              key = Files.readAttributes(log, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
              open = log;
            } catch (NoSuchFileException raced) {
              ch = null;
            }
          }
        }
        if (ch != null) {
          long size = ch.size();
          if (size > pos) {
            pos = drain(ch, pos, size, open, partial);
            continue;
          }
          Object now = keyOf(log);
          if (!Objects.equals(now, key)) {
            // Rotated or removed: what the old file got after our last read is read above (size == pos),
            // then the new file is followed from its start.
            flushPartial(open, partial);
            ch.close();
            ch = null;
            pos = 0;
            notice("rotated", log + " was rotated (the old file is now " + log.getFileName() + ".1); following the new "
                + log.getFileName());
            continue;
          }
          if (size < pos) {
            flushPartial(open, partial);
            pos = 0;
            notice("truncated", log + " was truncated; following it from its start");
            continue;
          }
        }
        out.flush();
        LockSupport.parkNanos(POLL_NANOS);
      }
    } finally {
      if (ch != null) {
        ch.close();
      }
    }
  }

  private long drain(FileChannel ch, long pos, long size, Path file, StringBuilder partial) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate((int) Math.min(64 * 1024, size - pos));
    int n = ch.read(buf, pos);
    if (n <= 0) {
      return pos;
    }
    partial.append(new String(buf.array(), 0, n, StandardCharsets.UTF_8));
    int nl;
    while ((nl = partial.indexOf("\n")) >= 0) {
      line(file, partial.substring(0, nl));
      partial.delete(0, nl + 1);
    }
    out.flush();
    return pos + n;
  }

  private void flushPartial(Path file, StringBuilder partial) {
    if (partial.length() > 0) {
      line(file, partial.toString());
      partial.setLength(0);
    }
  }

  private void line(Path file, String text) {
    if (root.json) {
      Map<String, Object> doc = Fastbind.document("logs");
      doc.put("file", file.toString());
      doc.put("line", text);
      out.println(Json.write(doc));
    } else {
      out.println(text);
    }
  }

  private void notice(String event, String text) {
    if (root.json) {
      Map<String, Object> doc = Fastbind.document("logs");
      doc.put("file", log.toString());
      doc.put("event", event);
      doc.put("detail", text);
      out.println(Json.write(doc));
    }
    err.println("fastbind logs: " + text);
    err.flush();
    out.flush();
  }

  /** The last {@code n} lines before byte {@code size}, read from at most the last MiB. */
  private static List<String> tail(FileChannel ch, long size, int n) throws IOException {
    long start = Math.max(0, size - TAIL_WINDOW);
    ByteBuffer buf = ByteBuffer.allocate((int) (size - start));
    while (buf.hasRemaining()) {
      if (ch.read(buf, start + buf.position()) < 0) {
        break;
      }
    }
    String text = new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
    String[] all = text.split("\n", -1);
    List<String> result = new ArrayList<>();
    int end = all.length;
    if (end > 0 && all[end - 1].isEmpty()) {
      end--; // the text ended with a newline
    }
    int first = start > 0 ? 1 : 0; // a cut first line is not shown
    for (int i = Math.max(first, end - n); i < end; i++) {
      result.add(all[i]);
    }
    return result;
  }

  private static boolean exists(Path p) {
    return Files.exists(p, LinkOption.NOFOLLOW_LINKS);
  }

  private static Object keyOf(Path p) {
    try {
      return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
    } catch (IOException e) {
      return null;
    }
  }

  private static void checkRegular(Path p) throws IOException {
    if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
      throw new dev.fastbind.broker.RuntimeFileException(p, p + " is not a regular file (a link, directory or"
          + " special file); fastbind does not read it: move it away", null);
    }
  }
}
