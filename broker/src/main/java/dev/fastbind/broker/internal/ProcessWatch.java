package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.Listeners;
import dev.fastbind.backend.internal.ProcessIdentity;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The open {@code /proc/<pid>/stat} files of the daemons one broker has found alive, so that the hot
 * path's "same process, not stopped?" check costs one positional read instead of a procfs path lookup,
 * an open, a read and a close (about 3 µs instead of 7 on the machine of docs/performance.md).
 *
 * <p>Nothing is trusted from the cache but the handle: every call reads the process's state and start
 * time afresh, and the caller still compares the start time with the lockfile's. An open stat file is
 * bound to the process it was opened for, so when that process is reaped the read fails, even if its
 * pid has meanwhile been given to another process; the handle is then closed and the pid looked up
 * anew, which reports the new owner. At most {@value #MAX_OPEN} files are kept per broker; Linux only
 * (without procfs every call returns null, as {@link ProcessIdentity#stat(long)} does). Thread-safe.
 */
public final class ProcessWatch {

  static final int MAX_OPEN = 16;

  private final ConcurrentHashMap<Long, FileChannel> open = new ConcurrentHashMap<>();

  /** The current {@link ProcessIdentity.Stat} of {@code pid}; null when it cannot be read (no such process). */
  public ProcessIdentity.Stat stat(long pid) {
    Long key = pid;
    FileChannel kept = open.get(key);
    if (kept != null) {
      ProcessIdentity.Stat s = ProcessIdentity.readStat(kept);
      if (s != null && !s.exited()) {
        return s;
      }
      if (open.remove(key, kept)) {
        Listeners.closeQuietly(kept);
      }
    }
    FileChannel ch = ProcessIdentity.openStat(pid);
    if (ch == null) {
      return null;
    }
    ProcessIdentity.Stat s = ProcessIdentity.readStat(ch);
    if (s == null || s.exited()) {
      Listeners.closeQuietly(ch);
      return s;
    }
    if (open.size() >= MAX_OPEN) {
      forgetAll();
    }
    if (open.putIfAbsent(key, ch) != null) {
      Listeners.closeQuietly(ch);
    }
    return s;
  }

  /** How many stat files are open; for tests. */
  int openCount() {
    return open.size();
  }

  private void forgetAll() {
    for (Long pid : open.keySet()) {
      FileChannel ch = open.remove(pid);
      if (ch != null) {
        Listeners.closeQuietly(ch);
      }
    }
  }

}
