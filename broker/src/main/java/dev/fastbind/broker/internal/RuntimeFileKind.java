package dev.fastbind.broker.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * What stands at a runtime path, from one {@code lstat} (links are never followed): the broker
 * removes only sockets nobody listens on and regular files it understands, and reports everything
 * else by its {@link #description()}.
 */
public enum RuntimeFileKind {
  /** Nothing is there. */
  ABSENT("nothing"),
  /** A Unix-domain socket file. */
  SOCKET("a socket"),
  /** A regular file. */
  REGULAR("a regular file"),
  /** A symbolic link (never followed). */
  SYMLINK("a symbolic link"),
  /** A directory. */
  DIRECTORY("a directory"),
  /** A named pipe, which would block whoever opens it. */
  FIFO("a FIFO (named pipe)"),
  /** A device or something else that could not be inspected. */
  OTHER("a device or other special file");

  private final String description;

  RuntimeFileKind(String description) {
    this.description = description;
  }

  /** "a symbolic link", for error messages. */
  public String description() {
    return description;
  }

  private static final int S_IFMT = 0170000;

  /** The kind of what is at {@code path}, without following links; {@link #OTHER} when unreadable. */
  public static RuntimeFileKind of(Path path) {
    int mode;
    try {
      mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return ABSENT;
    } catch (IOException | RuntimeException e) {
      return OTHER;
    }
    return switch (mode & S_IFMT) {
      case 0140000 -> SOCKET;
      case 0100000 -> REGULAR;
      case 0120000 -> SYMLINK;
      case 0040000 -> DIRECTORY;
      case 0010000 -> FIFO;
      default -> OTHER;
    };
  }
}
