package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.ProcessIdentity;
import java.io.File;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Kills a daemon and everything it started: its process group (the daemon leads its own session and
 * group after {@code setsid}) and every descendant still found in the process table, which catches
 * children that moved to a group of their own.
 */
public final class ProcessTree {
  private ProcessTree() {}

  private static long ownGroup() {
    ProcessIdentity.Stat self = ProcessIdentity.stat(ProcessIdentity.currentPid());
    return self == null ? -1 : self.processGroup();
  }

  private static final String[] KILL_PROGRAMS = {"/bin/kill", "/usr/bin/kill"};

  /**
   * Sends {@code signal} to the process group {@code pgid}; returns whether the {@code kill} program
   * reported success (false when the group no longer exists).
   */
  public static boolean signalGroup(long pgid, String signal) {
    if (pgid <= 1 || pgid == ownGroup()) {
      throw new IllegalArgumentException("refusing to signal process group " + pgid
          + (pgid > 1 ? " (this launcher's own)" : ""));
    }
    String kill = null;
    for (String k : KILL_PROGRAMS) {
      if (new File(k).canExecute()) {
        kill = k;
        break;
      }
    }
    if (kill == null) {
      return false;
    }
    try {
      Process p = new ProcessBuilder(kill, "-" + signal, "--", "-" + pgid)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD)
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .start();
      if (!p.waitFor(5, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return false;
      }
      return p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * Kills {@code root}'s process group (when {@code rootLeadsGroup}) and all of its descendants with
   * SIGKILL, then waits until they are gone or {@code deadlineNanos} ({@link System#nanoTime()})
   * passes. Returns whether all are gone. A zombie counts as gone once its last thread has exited: it
   * holds nothing then, and one
   * whose parent is not reaping (a grandchild re-parented to a container's init) may stay a zombie
   * for a long time, which must not stretch a caller's budget.
   *
   * <p>Only for a process the caller has verified (see {@link DaemonVerification}) or spawned itself:
   * the descendant walk starts from {@code root}.
   */
  public static boolean killTree(ProcessHandle root, boolean rootLeadsGroup, long deadlineNanos) {
    if (root.pid() <= 1 || root.pid() == ProcessHandle.current().pid()) {
      throw new IllegalArgumentException("refusing to kill the tree of pid " + root.pid());
    }
    List<ProcessHandle> all = new ArrayList<>();
    all.add(root);
    root.descendants().forEach(all::add);
    if (rootLeadsGroup && root.isAlive()) {
      signalGroup(root.pid(), "KILL");
    }
    for (ProcessHandle h : all) {
      h.destroyForcibly();
    }
    return awaitGone(all, deadlineNanos);
  }

  /** Waits, parking 1 ms doubling to 10 ms, until every process is gone or a zombie; false at the deadline. */
  public static boolean awaitGone(List<ProcessHandle> processes, long deadlineNanos) {
    long pause = TimeUnit.MILLISECONDS.toNanos(1);
    while (true) {
      boolean allGone = true;
      for (ProcessHandle h : processes) {
        if (!gone(h)) {
          allGone = false;
          break;
        }
      }
      if (allGone) {
        return true;
      }
      long left = deadlineNanos - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      LockSupport.parkNanos(Math.min(pause, left));
      pause = Math.min(pause * 2, TimeUnit.MILLISECONDS.toNanos(10));
    }
  }

  private static boolean gone(ProcessHandle h) {
    if (!h.isAlive()) {
      return true; // reaped, or its pid already belongs to another process (the handle knows the start time)
    }
    ProcessIdentity.Stat st = ProcessIdentity.stat(h.pid());
    if (st == null) {
      return !h.isAlive(); // reaped (or no procfs: the JDK's answer is all there is)
    }
    // Neither the JDK's isAlive nor a zombie state is enough: a multi-threaded process shows its leader
    // as a zombie while its other threads are still exiting and still hold its descriptors (a listener
    // among them), and /proc/<pid>/fd of that leader is already empty. It is gone once no thread but
    // the zombie leader is left.
    return st.exited() && onlyTheLeaderIsLeft(h.pid());
  }

  private static boolean onlyTheLeaderIsLeft(long pid) {
    int threads = 0;
    try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
      for (Path ignored : tasks) {
        threads++;
      }
    } catch (IOException | RuntimeException e) {
      return true; // reaped meanwhile
    }
    return threads <= 1;
  }
}
