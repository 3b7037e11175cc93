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

  /** {@link #ownerFor}: the owner named by {@link Env#OWNER} is gone already. */
  static final long ORPHANED = -2;

  private final long owner;
  private final String service;
  private volatile ServeState state;

  private OwnerWatch(long owner, String service) {
    this.owner = owner;
    this.service = service;
  }

  /**
   * The owner's pid when {@link Env#OWNER} names this process's parent; {@link #ORPHANED} when it
   * names a process that no longer exists (the owner died before this worker's bootstrap ran, and
   * the worker was handed to init); else -1 (unset, or inherited by a worker's own child, whose
   * parent is the worker while the owner lives on).
   */
  static long ownerFor(Map<String, String> env) {
    String text = env.get(Env.OWNER);
    if (text == null || text.isBlank()) {
      return -1;
    }
    long owner;
    try {
      owner = Long.parseLong(text.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
    long ppid = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(-1L);
    if (owner == ppid) {
      return owner;
    }
    return ProcessHandle.of(owner).map(ProcessHandle::isAlive).orElse(false) ? -1 : ORPHANED;
  }

  /**
   * Starts the watch of standard input for a worker owned by {@code owner}: the first thing the
   * bootstrap does, so that an owner that dies while the worker starts ends it too.
   */
  static OwnerWatch start(long owner, String service) {
    OwnerWatch w = new OwnerWatch(owner, service);
    Thread t = new Thread(() -> w.watch(System.in), "fastbind-owner-watch");
    t.setDaemon(true);
    t.start();
    return w;
  }

  /** From now on the end goes through {@code state}'s orderly stop (death record, files removed). */
  void attach(ServeState state) {
    this.state = state;
  }

  private void watch(InputStream in) {
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
      System.err.println("fastbind: " + service + ": the exit after the owner went took longer than "
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
    ServeState serving = state;
    if (serving == null) {
      // Still starting: nothing to record or remove yet beyond what the exit's hooks do.
      System.err.println("fastbind: " + service + ": the owner went (" + how + ") during the start: exiting");
      Runtime.getRuntime().exit(0);
      return;
    }
    serving.stop(DeathRecordCodec.Cause.OWNER_GONE, "the owner went (" + how + "): shutting down",
        how + (descendants.isEmpty() ? "" : "; killed " + descendants.size() + " descendant(s)"));
  }
}
