package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.DeathRecords;
import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.broker.DeathRecord;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.SpawnReason;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The broker's side of death records ({@link DeathRecords}): the ends a daemon cannot record itself
 * (a {@code kill -9}, a crash, an OOM kill) are recorded by the broker that finds its process gone
 * and no record of the instance, with the exit status when the daemon was this JVM's own child.
 */
public final class Deaths {
  private Deaths() {}

  private static final int MAX_CHILDREN = 64;

  /** A daemon this JVM spawned: its process, and when it started and ended (millis; 0 while it runs). */
  private static final class Child {
    final Process process;
    final long startedAt = System.currentTimeMillis();
    volatile long endedAt;

    Child(Process process) {
      this.process = process;
    }
  }

  private static final Map<Long, Child> CHILDREN = new LinkedHashMap<>();

  /** Remembers a spawned daemon, so that its exit status and end are known when it dies unrecorded. */
  static void spawned(Process p) {
    Child c = new Child(p);
    p.onExit().thenRun(() -> c.endedAt = System.currentTimeMillis());
    synchronized (CHILDREN) {
      CHILDREN.put(p.pid(), c);
      if (CHILDREN.size() > MAX_CHILDREN) {
        Iterator<Child> it = CHILDREN.values().iterator();
        while (it.hasNext() && CHILDREN.size() > MAX_CHILDREN / 2) {
          if (!it.next().process.isAlive()) {
            it.remove();
          }
        }
      }
    }
  }

  private static Child child(long pid) {
    synchronized (CHILDREN) {
      return CHILDREN.get(pid);
    }
  }

  /** The public view of a record. */
  public static DeathRecord toPublic(DeathRecordCodec.Entry e) {
    DeathRecord.Cause cause;
    try {
      cause = DeathRecord.Cause.valueOf(e.cause().name());
    } catch (IllegalArgumentException unknown) {
      cause = DeathRecord.Cause.VANISHED;
    }
    return new DeathRecord(e.service(), e.pid(), e.instanceId(), cause, e.detail(),
        e.exitStatus() < 0 ? OptionalInt.empty() : OptionalInt.of(e.exitStatus()),
        Instant.ofEpochMilli(e.endedAtMillis()),
        e.uptimeMillis() < 0 ? Optional.empty() : Optional.of(Duration.ofMillis(e.uptimeMillis())),
        e.outOfMemory(), e.hsErr().map(Path::of), "broker".equals(e.recordedBy()), e.logTail());
  }

  /** Whether {@code s} says the recorded daemon's process is gone (so its end may be unrecorded). */
  static boolean gone(Assessment.Stale s) {
    return s.record().isPresent() && !s.processAlive()
        && (s.reason() == SpawnReason.DEAD_PID || s.reason() == SpawnReason.PID_REUSED);
  }

  /** What the broker records for a daemon whose process is gone without a record. */
  static DeathRecordCodec.Entry observed(ServiceDefinition definition, ServiceLayout paths, LockfileRecord r) {
    return observed(definition, paths, r.service(), r.pid(), r.instanceId());
  }

  private static DeathRecordCodec.Entry observed(ServiceDefinition definition, ServiceLayout paths, String service,
      long pid, String instanceId) {
    Child c = child(pid);
    int status = -1;
    long ended = System.currentTimeMillis();
    long uptime = -1;
    String detail;
    if (c != null && !c.process.isAlive()) {
      status = c.process.exitValue();
      if (c.endedAt > 0) {
        ended = c.endedAt;
      }
      uptime = ended - c.startedAt;
      detail = status > 128 && status < 128 + 65
          ? "killed by " + signalName(status - 128) + " (exit status " + status + ")"
          : "exited with status " + status + " without recording why (a crash, or System.halt)";
    } else {
      detail = "its process is gone and it left no record: killed (kill -9, the OOM killer) or crashed;"
          + " its exit status is known only to its parent";
    }
    String tail = DeathRecords.tail(paths.log());
    Optional<Path> hsErr = DeathRecords.hsErr(pid, definition.workingDirectory().orElse(paths.directory()),
        paths.directory());
    return new DeathRecordCodec.Entry(service, pid, instanceId, DeathRecordCodec.Cause.VANISHED, detail,
        status, ended, uptime, DeathRecords.outOfMemory(tail, hsErr), hsErr.map(Path::toString), "broker", tail);
  }

  /**
   * Completes the record of a daemon found gone: writes the observed one when the instance left
   * none. Returns the instance's record, written now or earlier by the daemon. Never throws: a record
   * that cannot be written is no reason to fail the caller's spawn or stop.
   */
  public static Optional<DeathRecordCodec.Entry> complete(ServiceDefinition definition, ServiceLayout paths,
      Assessment.Stale s) {
    if (!gone(s)) {
      return Optional.empty();
    }
    LockfileRecord r = s.record().get();
    try {
      for (DeathRecordCodec.Entry e : DeathRecords.list(paths.lockfile())) {
        if (e.instanceId().equals(r.instanceId())) {
          return Optional.of(e);
        }
      }
      DeathRecordCodec.Entry e = observed(definition, paths, r);
      DeathRecords.write(paths.lockfile(), e);
      return Optional.of(e);
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * Records that a stop had to kill the daemon of {@code r} (it did not exit on {@code SHUTDOWN} or
   * {@code SIGTERM} in time), unless it recorded its end itself. Never throws.
   */
  static void killedByStop(ServiceDefinition definition, ServiceLayout paths, LockfileRecord r) {
    try {
      if (DeathRecords.hasRecordOf(paths.lockfile(), r.instanceId())) {
        return;
      }
      String tail = DeathRecords.tail(paths.log());
      DeathRecords.write(paths.lockfile(), new DeathRecordCodec.Entry(r.service(), r.pid(), r.instanceId(),
          DeathRecordCodec.Cause.SHUTDOWN_REQUEST, "stopped by a broker, and killed (SIGKILL) because it did not exit"
              + " on SHUTDOWN or SIGTERM within the grace period", 128 + 9, System.currentTimeMillis(), -1, false,
          Optional.empty(), "broker", tail));
    } catch (IOException | RuntimeException e) {
      // the stop succeeded; a record that cannot be written is no reason to fail it
    }
  }

  /**
   * The end of a private worker ({@code WorkerPool}), this JVM's child {@code process} that has
   * exited: the record its bootstrap wrote for instance {@code instanceId}, or the one observed here
   * (its exit status, the signal), written beside its lockfile. Never throws; empty if nothing could
   * be read or written.
   */
  public static Optional<DeathRecord> workerEnded(ServiceDefinition definition, ServiceLayout paths, Process process,
      String instanceId) {
    try {
      for (DeathRecordCodec.Entry e : DeathRecords.list(paths.lockfile())) {
        if (e.pid() == process.pid() && e.instanceId().equals(instanceId)) {
          return Optional.of(toPublic(e));
        }
      }
      DeathRecordCodec.Entry e = observed(definition, paths, definition.name(), process.pid(), instanceId);
      try {
        DeathRecords.write(paths.lockfile(), e);
      } catch (IOException | RuntimeException notWritten) {
        // the pool still reports the end it observed
      }
      return Optional.of(toPublic(e));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * Records a start that failed, unless the daemon's bootstrap recorded it itself: with the child's
   * exit status (after the broker's clean-up it has always exited) and the first line of the failure.
   * Never throws.
   */
  static void startFailed(ServiceDefinition definition, ServiceLayout paths, Process child, Throwable failed) {
    try {
      for (DeathRecordCodec.Entry e : DeathRecords.list(paths.lockfile())) {
        if (e.pid() == child.pid()) {
          return;
        }
      }
      Child c = child(child.pid());
      int status = child.isAlive() ? -1 : child.exitValue();
      long now = System.currentTimeMillis();
      String why = failed == null || failed.getMessage() == null ? "it did not become ready" : failed.getMessage();
      int nl = why.indexOf('\n');
      String tail = DeathRecords.tail(paths.log());
      Optional<Path> hsErr = DeathRecords.hsErr(child.pid(), definition.workingDirectory().orElse(paths.directory()),
          paths.directory());
      DeathRecords.write(paths.lockfile(), new DeathRecordCodec.Entry(definition.name(), child.pid(), "",
          DeathRecordCodec.Cause.STARTUP_FAILED, nl < 0 ? why : why.substring(0, nl), status,
          c != null && c.endedAt > 0 ? c.endedAt : now, c == null ? -1 : (c.endedAt > 0 ? c.endedAt : now) - c.startedAt,
          DeathRecords.outOfMemory(tail, hsErr), hsErr.map(Path::toString), "broker", tail));
    } catch (IOException | RuntimeException e) {
      // a record that cannot be written does not change the start's failure, which is thrown
    }
  }

  /**
   * The newest death of the slot: for a record whose process is gone without one, what the broker
   * would record (not written here); otherwise the newest record on file.
   */
  public static Optional<DeathRecord> last(ServiceDefinition definition, ServiceLayout paths, Assessment a) throws IOException {
    if (a instanceof Assessment.Stale s && gone(s)) {
      LockfileRecord r = s.record().get();
      for (DeathRecordCodec.Entry e : DeathRecords.list(paths.lockfile())) {
        if (e.instanceId().equals(r.instanceId())) {
          return Optional.of(toPublic(e));
        }
      }
      return Optional.of(toPublic(observed(definition, paths, r)));
    }
    return DeathRecords.latest(paths.lockfile()).map(Deaths::toPublic);
  }

  /** {@code "; "} and the summary of {@code d}'s death with its log tail, or "" (for spawn details). */
  public static String suffix(Optional<DeathRecord> d) {
    return d.isEmpty() ? "" : "; " + d.get().summaryWithLog();
  }

  private static String signalName(int n) {
    switch (n) {
      case 1: return "SIGHUP";
      case 2: return "SIGINT";
      case 3: return "SIGQUIT";
      case 4: return "SIGILL";
      case 6: return "SIGABRT";
      case 7: return "SIGBUS";
      case 8: return "SIGFPE";
      case 9: return "SIGKILL";
      case 11: return "SIGSEGV";
      case 13: return "SIGPIPE";
      case 15: return "SIGTERM";
      default: return "signal " + n;
    }
  }
}
