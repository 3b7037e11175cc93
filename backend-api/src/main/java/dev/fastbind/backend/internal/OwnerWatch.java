package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import dev.fastbind.backend.internal.wire.Env;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Ties a private worker's life to its owner's. Java has no parent-death signal, so the owner (a
 * {@code WorkerPool}) gives each worker a pipe as standard input and never writes to it: the pipe's
 * end of file comes when the owner closes it (the pool closes) or when the owner's process ends in
 * any way, {@code kill -9} included, because the kernel closes the write end with the process. No
 * other process holds that end: the JDK closes every descriptor above 2 in the children it starts.
 *
 * <p>At end of file the worker kills its own descendants (what its backend started, found through
 * {@link ProcessHandle#descendants()}: a process that double-forked away is out of reach), then
 * exits through the usual shutdown (death record {@code OWNER_GONE}, files removed). If that
 * shutdown hangs, the worker halts {@link #HALT_AFTER_MILLIS} later: an owner that is gone must
 * never leave a worker behind.
 */
final class OwnerWatch {

  /** How long the orderly exit may take before the worker halts. */
  static final long HALT_AFTER_MILLIS = 5_000;

  private OwnerWatch() {}

  /**
   * The owner's pid when {@link Env#OWNER} names this process's parent, else -1 (unset, or inherited
   * by a worker's own child, whose parent is the worker).
   */
  static long ownerFor(Map<String, String> env) {
    String owner = env.get(Env.OWNER);
    if (owner == null || owner.isBlank()) {
      return -1;
    }
    long ppid = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(-1L);
    return owner.trim().equals(Long.toString(ppid)) ? ppid : -1;
  }

  /** Starts the watch of standard input for a worker owned by {@code owner}. */
  static void start(ServeState state, long owner) {
    Thread t = new Thread(() -> watch(state, owner, System.in), "fastbind-owner-watch");
    t.setDaemon(true);
    t.start();
  }

  private static void watch(ServeState state, long owner, InputStream in) {
    String how;
    try {
      byte[] sink = new byte[256];
      while (in.read(sink) >= 0) {
        // The owner writes nothing; anything it might write is ignored.
      }
      how = "its standard input, a pipe from owner pid " + owner + ", reached end of file";
    } catch (IOException e) {
      how = "reading its standard input, a pipe from owner pid " + owner + ", failed: " + e.getMessage();
    }
    Thread halt = new Thread(() -> {
      try {
        Thread.sleep(HALT_AFTER_MILLIS); // a timer, not synchronisation: the exit below normally ends the JVM first
      } catch (InterruptedException e) {
        return;
      }
      System.err.println("fastbind: " + state.service() + ": the exit after the owner went took longer than "
          + HALT_AFTER_MILLIS + " ms: halting");
      Runtime.getRuntime().halt(1);
    }, "fastbind-owner-halt");
    halt.setDaemon(true);
    halt.start();
    List<ProcessHandle> descendants = ProcessHandle.current().descendants().collect(Collectors.toList());
    descendants.forEach(ProcessHandle::destroyForcibly);
    for (ProcessHandle h : descendants) {
      try {
        h.onExit().get(1, TimeUnit.SECONDS);
      } catch (Exception e) {
        // a descendant that outlives SIGKILL for a second is the kernel's business; the exit goes on
      }
    }
    state.stop(DeathRecordCodec.Cause.OWNER_GONE, "the owner went (" + how + "): shutting down",
        how + (descendants.isEmpty() ? "" : "; killed " + descendants.size() + " descendant(s)"));
  }
}
