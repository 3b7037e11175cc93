package dev.fastbind.broker;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A file in the runtime directory is not what the broker expects there, or cannot be read or written:
 * a FIFO, directory, symbolic link or device where a regular file or socket belongs, a file far
 * larger than its format allows, a full file system. The broker never removes what it did not make,
 * so nothing was changed; the one-line message names the path, what was found and the fix (usually
 * "remove it").
 */
public final class RuntimeFileException extends BrokerException {
  private static final long serialVersionUID = 1L;

  private final transient Path path;

  /**
   * Creates the error; {@code message} names {@code path} and the fix.
   *
   * @param path the file or directory the error is about
   * @param message the whole one-line message: the path, what was found and what to do
   * @param cause the I/O error behind it, or null when the broker refused on its own
   */
  public RuntimeFileException(Path path, String message, Throwable cause) {
    super(Objects.requireNonNull(message, "message"), cause);
    this.path = Objects.requireNonNull(path, "path");
  }

  /**
   * The file the error is about.
   *
   * @return the runtime directory itself or a file in it; null after deserialization, as {@code Path}
   *     is not serializable
   */
  public Path path() {
    return path;
  }
}
