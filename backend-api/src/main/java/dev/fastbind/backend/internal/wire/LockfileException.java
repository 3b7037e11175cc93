package dev.fastbind.backend.internal.wire;

import dev.fastbind.backend.internal.Lockfiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A lockfile exists but cannot be used, with the reason as a closed enum.
 *
 * <p>Readers never guess at a bad lockfile: {@link Lockfiles#read(Path)} reports it with one of these
 * reasons and the broker treats the daemon it describes as stale. The message names the file, says
 * what was found and what a person can do (usually: delete the file, or upgrade the launcher).
 * It extends {@link IOException} so existing {@code catch} blocks keep working.
 */
public final class LockfileException extends IOException {
  private static final long serialVersionUID = 1L;

  /** Why a lockfile was refused. */
  public enum Reason {
    /** The file has no bytes at all (for example a crash between create and write). */
    EMPTY,
    /** The header is ours but the file ends before its checksum line: a torn or cut-off write. */
    TRUNCATED,
    /** The header is ours but the checksum does not match or a field is missing or malformed. */
    CORRUPT,
    /** The file does not start with the fastbind lockfile header at all. */
    FOREIGN,
    /** The file was written in a newer format version than this code reads. */
    FUTURE_VERSION,
    /** The path is a symbolic link; lockfiles are never followed through links. */
    SYMLINK,
    /** The path is a directory, socket, FIFO or device rather than a regular file. */
    NOT_A_REGULAR_FILE,
    /** The file is larger than any lockfile this code writes. */
    TOO_LARGE,
    /** The file exists but reading it failed; the cause carries the system's error. */
    UNREADABLE
  }

  private final Reason reason;
  private final transient Path file;

  /** Creates the error; {@code message} is the whole, human-readable message. */
  public LockfileException(Reason reason, Path file, String message, Throwable cause) {
    super(message, cause);
    this.reason = Objects.requireNonNull(reason, "reason");
    this.file = Objects.requireNonNull(file, "file");
  }

  /** Why the lockfile was refused. */
  public Reason reason() {
    return reason;
  }

  /** The lockfile concerned. */
  public Path file() {
    return file;
  }
}
