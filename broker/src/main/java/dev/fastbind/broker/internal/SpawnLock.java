package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.broker.RuntimeFileException;
import dev.fastbind.broker.SpawnLockTimeoutException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.Semaphore;

/**
 * The exclusive cold-path lock of one service, held across processes with a POSIX file lock and
 * across threads of this JVM with a one-permit {@link Semaphore}: not reentrant, and released by
 * whichever thread ends the cold start (a hand-off finishes on a thread of its own, after the
 * launcher's call has returned).
 *
 * <p>Each lock file is opened through exactly one {@link FileChannel} per JVM, kept open for the life
 * of the JVM: POSIX drops every lock a process holds on a file when <em>any</em> descriptor of that
 * file is closed, so opening and closing a second channel would silently unlock a concurrent holder.
 * The file is created owner-only and opened through {@link RuntimeFiles#openLockFile}: never through a
 * link, and read-write, so that a FIFO planted at its path is refused at once instead of blocking
 * the open forever; such a file fails {@link #acquire} with a {@link RuntimeFileException} naming it.
 */
public final class SpawnLock implements AutoCloseable {

  private static final ConcurrentHashMap<Path, Slot> SLOTS = new ConcurrentHashMap<>();

  private static final class Slot {
    final Semaphore threads = new Semaphore(1);
    FileChannel channel;
    /** The file key of what stood at the path when {@link #channel} was opened. */
    Object fileKey;
  }

  private final Slot slot;
  private final FileLock fileLock;

  private SpawnLock(Slot slot, FileLock fileLock) {
    this.slot = slot;
    this.fileLock = fileLock;
  }

  /**
   * Waits until this thread holds the lock on {@code file} exclusively among all processes, for at
   * most {@code patience}. The file lock is polled (1 ms, doubling to 20 ms) rather than blocked on,
   * because a blocking {@code fcntl} lock cannot be given up after a deadline.
   *
   * @throws SpawnLockTimeoutException naming the holder when {@code patience} passes first
   * @throws InterruptedIOException if the thread is interrupted while it waits (its flag is set again)
   * @throws RuntimeFileException if something other than a regular file is at {@code file}, or it
   *     cannot be opened; at once, not after {@code patience}
   */
  public static SpawnLock acquire(Path file, String service, Duration patience) throws IOException {
    long start = System.nanoTime();
    long deadline = start + patience.toNanos();
    Slot slot = SLOTS.computeIfAbsent(file.toAbsolutePath().normalize(), p -> new Slot());
    try {
      if (!slot.threads.tryAcquire(patience.toNanos(), TimeUnit.NANOSECONDS)) {
        throw timedOut(file, service, start);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while waiting for the spawn lock " + file);
    }
    boolean ok = false;
    try {
      long pauseNanos = TimeUnit.MILLISECONDS.toNanos(1);
      while (true) {
        if (slot.channel == null || !slot.channel.isOpen()) {
          slot.channel = RuntimeFiles.openLockFile(file);
          slot.fileKey = identity(file);
        }
        FileLock lock = slot.channel.tryLock();
        if (lock != null) {
          // A lock on a file that is no longer the one at the path (deleted by a tmp cleaner, replaced
          // by another process) excludes nobody: reopen the path and lock what is there now. This
          // thread holds the JVM's slot, so closing the old channel drops no other holder's lock.
          Object now = identity(file);
          if (now == null || !now.equals(slot.fileKey)) {
            lock.release();
            slot.channel.close();
            slot.channel = null;
            if (deadline - System.nanoTime() <= 0) {
              throw timedOut(file, service, start);
            }
            continue;
          }
          ok = true;
          return new SpawnLock(slot, lock);
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw timedOut(file, service, start);
        }
        LockSupport.parkNanos(Math.min(pauseNanos, left));
        if (Thread.interrupted()) {
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("interrupted while waiting for the spawn lock " + file);
        }
        pauseNanos = Math.min(pauseNanos * 2, MAX_PAUSE_NANOS);
      }
    } finally {
      if (!ok) {
        slot.threads.release();
      }
    }
  }

  /**
   * What tells the file at {@code path} from a successor: its device and inode, which a file system
   * may hand to a new file as soon as the old one is deleted, and its change time; null when nothing
   * is there or it cannot be examined.
   */
  private static Object identity(Path path) {
    try {
      java.util.Map<String, Object> a = Files.readAttributes(path, "unix:dev,ino,ctime", LinkOption.NOFOLLOW_LINKS);
      return java.util.List.of(a.get("dev"), a.get("ino"), a.get("ctime"));
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private static final long MAX_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

  private static SpawnLockTimeoutException timedOut(Path file, String service, long start) {
    long holder = holderPid(file);
    String state = "";
    if (holder == ProcessHandle.current().pid()) {
      state = "this process: another thread of this launcher";
    } else if (holder > 0) {
      ProcessIdentity.Stat st = ProcessIdentity.stat(holder);
      state = st == null ? "" : "state " + st.state() + (st.stopped() ? ", stopped" : "");
    }
    return new SpawnLockTimeoutException(service, file, Duration.ofNanos(System.nanoTime() - start), holder, state);
  }

  /**
   * The pid that holds a POSIX lock on {@code file}, from {@code /proc/locks}, or -1 when it cannot be
   * told. Lines look like {@code 3: POSIX  ADVISORY  WRITE 4242 00:2b:1234 0 EOF}; waiters are marked
   * {@code ->} and skipped. Only the inode number is matched (good enough for an error message).
   */
  static long holderPid(Path file) {
    try {
      Object ino = Files.getAttribute(file, "unix:ino", LinkOption.NOFOLLOW_LINKS);
      String suffix = ":" + ino;
      for (String line : Files.readAllLines(Path.of("/proc/locks"), StandardCharsets.ISO_8859_1)) {
        String[] f = line.trim().split("\\s+");
        if (f.length >= 6 && "POSIX".equals(f[1]) && f[5].endsWith(suffix)) {
          return Long.parseLong(f[4]);
        }
      }
    } catch (IOException | RuntimeException e) {
      // no procfs, no such file, or an unexpected format: the message just says less
    }
    return -1;
  }

  private final java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();

  /**
   * Moves the lock to a new holder object, for a cold start that ends on another thread: this
   * object's {@link #close()} then does nothing, and the returned one releases the lock.
   */
  public SpawnLock transfer() {
    if (!released.compareAndSet(false, true)) {
      throw new IllegalStateException("the spawn lock was already released");
    }
    return new SpawnLock(slot, fileLock);
  }

  /**
   * Releases the lock, from any thread, once (later calls do nothing); the channel stays open for
   * the next holder in this JVM.
   */
  @Override
  public void close() throws IOException {
    if (!released.compareAndSet(false, true)) {
      return;
    }
    try {
      fileLock.release();
    } finally {
      slot.threads.release();
    }
  }
}
