package dev.fastbind.broker.internal;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Kills a daemon and everything it started: its process group (the daemon leads its own session and
 * group after {@code setsid}) and every descendant still found in the process table, which catches
 * children that moved to a group of their own.
 */
public final class ProcessTree {
  private ProcessTree() {}

  private static final String[] KILL_PROGRAMS = {"/bin/kill", "/usr/bin/kill"};

  /**
   * Sends {@code signal} to the process group {@code pgid}; returns whether the {@code kill} program
   * reported success (false when the group no longer exists).
   */
  public static boolean signalGroup(long pgid, String signal) {
    if (pgid <= 1) {
      throw new IllegalArgumentException("refusing to signal process group " + pgid);
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
   * Kills {@code root}'s process group (when {@code root} leads one) and all of its descendants with
   * SIGKILL, then waits up to {@code waitMillis} for them to be gone. Returns whether all are gone.
   */
  public static boolean killTree(ProcessHandle root, boolean rootLeadsGroup, long waitMillis) {
    List<ProcessHandle> all = new ArrayList<>();
    all.add(root);
    root.descendants().forEach(all::add);
    if (rootLeadsGroup && root.isAlive()) {
      signalGroup(root.pid(), "KILL");
    }
    for (ProcessHandle h : all) {
      h.destroyForcibly();
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMillis);
    for (ProcessHandle h : all) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return all.stream().noneMatch(ProcessHandle::isAlive);
      }
      try {
        h.onExit().get(left, TimeUnit.NANOSECONDS);
      } catch (TimeoutException | ExecutionException e) {
        return false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return true;
  }
}
