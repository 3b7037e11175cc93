package dev.fastbind.backend.internal;

import java.nio.file.FileSystemException;
import java.nio.file.Path;

/**
 * The runtime directory is not safe to hold sockets and lockfiles: it is a symbolic link, not a
 * directory, owned by another user, or open to the group or others.
 *
 * <p>fastbind never repairs a directory it did not create; the message names the directory, what
 * was found (owner uid, mode) and the fix ({@code chmod 700 DIR}, or another directory).
 */
public final class UnsafeRuntimeDirectoryException extends FileSystemException {
  private static final long serialVersionUID = 1L;

  /** Creates the error for {@code dir}; {@code reason} says what was found and what to do. */
  public UnsafeRuntimeDirectoryException(Path dir, String reason) {
    super(dir.toString(), null, reason);
  }
}
