package dev.fastbind.broker.internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.OpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The exclusive cold-path lock of one service, held across processes with a POSIX file lock and
 * across threads of this JVM with a {@link ReentrantLock}.
 *
 * <p>Each lock file is opened through exactly one {@link FileChannel} per JVM, kept open for the life
 * of the JVM: POSIX drops every lock a process holds on a file when <em>any</em> descriptor of that
 * file is closed, so opening and closing a second channel would silently unlock a concurrent holder.
 * The file is opened without following symbolic links and created owner-only.
 */
public final class SpawnLock implements AutoCloseable {

  private static final ConcurrentHashMap<Path, Slot> SLOTS = new ConcurrentHashMap<>();

  private static final class Slot {
    final ReentrantLock threads = new ReentrantLock();
    FileChannel channel;
  }

  private final Slot slot;
  private final FileLock fileLock;

  private SpawnLock(Slot slot, FileLock fileLock) {
    this.slot = slot;
    this.fileLock = fileLock;
  }

  /** Blocks until this thread holds the lock on {@code file} exclusively among all processes. */
  public static SpawnLock acquire(Path file) throws IOException {
    Slot slot = SLOTS.computeIfAbsent(file.toAbsolutePath().normalize(), p -> new Slot());
    slot.threads.lock();
    boolean ok = false;
    try {
      if (slot.channel == null || !slot.channel.isOpen()) {
        slot.channel = FileChannel.open(file,
            Set.<OpenOption>of(StandardOpenOption.CREATE, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      }
      FileLock lock = slot.channel.lock();
      ok = true;
      return new SpawnLock(slot, lock);
    } finally {
      if (!ok) {
        slot.threads.unlock();
      }
    }
  }

  /** Releases the lock; the channel stays open for the next holder in this JVM. */
  @Override
  public void close() throws IOException {
    try {
      fileLock.release();
    } finally {
      slot.threads.unlock();
    }
  }
}
