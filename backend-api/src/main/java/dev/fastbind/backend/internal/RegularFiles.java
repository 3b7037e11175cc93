package dev.fastbind.backend.internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;

/** Opening a runtime file that should be regular, so that whatever stands there cannot block the caller. */
public final class RegularFiles {
  private RegularFiles() {}

  private static final Set<OpenOption> READ_NO_LINKS = Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
  private static final Set<OpenOption> READ_WRITE_NO_LINKS =
      Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);

  /**
   * Opens {@code file} without following a link, read-write: on Linux a read-write open of a FIFO
   * returns at once, where a read-only one waits for a writer forever (a FIFO swapped in after the
   * caller's {@code lstat} cannot hang it). Falls back to read-only for a file this user may not
   * write (EACCES, EROFS, EPERM); only then could a FIFO raced in still block. The caller checks
   * that the channel can seek (a FIFO, socket or terminal cannot) before it trusts it.
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
