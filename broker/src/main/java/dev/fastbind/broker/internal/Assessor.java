package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.wire.LockfileCodec;
import dev.fastbind.backend.internal.wire.LockfileException;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.SpawnReason;
import dev.fastbind.broker.UntrustedStateException;
import dev.fastbind.broker.internal.Assessment.Absent;
import dev.fastbind.broker.internal.Assessment.Healthy;
import dev.fastbind.broker.internal.Assessment.Stale;
import dev.fastbind.broker.internal.Assessment.Untrusted;
import java.time.Duration;
import java.util.Optional;

/**
 * Turns a service's lockfile and the process table into an {@link Assessment}, changing nothing. The
 * first step of every broker call, and on the hot path the only one: its cost is the hot path's
 * (see the {@code Broker} class doc), so it allocates little and uses no lambda or regular expression.
 * Thread-safe.
 */
public final class Assessor {

  private final Metrics metrics;
  private final ProcessWatch watch = new ProcessWatch();

  /** An assessor that records its connect probes in {@code metrics}. */
  public Assessor(Metrics metrics) {
    this.metrics = metrics;
  }

  /**
   * Reads the lockfile and checks the process it names. The hot path: what reaches {@link Healthy}
   * names this service and its own two endpoints, a live process with the recorded start time in
   * this boot, and an endpoint that accepts a connection. Who holds the endpoint, uid and
   * {@code HELLO} identity are left to the calls that act on the daemon ({@link Trust#verifiedHello},
   * {@link DaemonVerification}).
   */
  public Assessment assess(ServiceDefinition definition, ServiceLayout paths) {
    Optional<LockfileRecord> read;
    try {
      read = Lockfiles.read(paths.lockfile());
    } catch (LockfileException e) {
      return unreadable(definition, paths, e);
    }
    if (read.isEmpty()) {
      return new Absent();
    }
    LockfileRecord r = read.get();
    if (!r.service().equals(definition.name()) || !r.endpoint().equals(paths.endpoint())
        || !r.controlEndpoint().equals(paths.controlEndpoint())) {
      String what = !r.service().equals(definition.name())
          ? "names service '" + r.service() + "'"
          : "names endpoints " + r.endpoint() + " and " + r.controlEndpoint() + ", not the service's own "
              + paths.endpoint() + " and " + paths.controlEndpoint();
      String detail = "FOREIGN: lockfile " + paths.lockfile() + " " + what;
      if (Trust.answers(paths)) {
        return new Untrusted(new UntrustedStateException(definition.name(), UntrustedStateException.Kind.FOREIGN_RECORD,
            paths.lockfile(), -1, "daemon '" + definition.name() + "': lockfile " + paths.lockfile() + " " + what
                + ", yet the service's endpoint answers; nothing was changed: stop whatever serves "
                + paths.endpoint() + " (" + Trust.holdersText(paths) + ") or remove the lockfile by hand"));
      }
      return new Stale(SpawnReason.CORRUPT_LOCKFILE, detail, Optional.empty(), false);
    }
    if (!r.bootId().equals(ProcessIdentity.bootId())) {
      return new Stale(SpawnReason.REBOOTED, "lockfile written before the last boot (pid " + r.pid() + ")",
          Optional.of(r), false);
    }
    // One procfs read answers both "same process?" here and "stopped?" in decide().
    ProcessIdentity.Stat stat = watch.stat(r.pid());
    String started;
    if (stat != null) {
      started = stat.exited() ? null : stat.startTime();
    } else {
      started = ProcessIdentity.startTime(r.pid()).orElse(null); // no procfs: the portable check
    }
    if (started == null) {
      return new Stale(SpawnReason.DEAD_PID, "pid " + r.pid() + " is not running", Optional.of(r), false);
    }
    if (!started.equals(r.processStartTime())) {
      return new Stale(SpawnReason.PID_REUSED, "pid " + r.pid() + " now belongs to another process (started "
          + started + ", lockfile says " + r.processStartTime() + ")", Optional.of(r), false);
    }
    if (r.pid() <= 1 || r.pid() == ProcessIdentity.currentPid()) {
      return new Stale(SpawnReason.CORRUPT_LOCKFILE, "FOREIGN: lockfile " + paths.lockfile() + " names pid "
          + r.pid() + (r.pid() <= 1 ? ", which is never a daemon" : ", this launcher itself"), Optional.of(r), true);
    }
    long t = System.nanoTime();
    boolean connects = Probe.connects(paths.endpoint().path().orElseThrow());
    metrics.probe(connects, System.nanoTime() - t);
    if (!connects) {
      return new Stale(SpawnReason.UNCONNECTABLE_SOCKET, "pid " + r.pid() + " is alive but " + r.endpoint()
          + " refuses connections", Optional.of(r), true);
    }
    if (!verifiedBefore(r)) {
      // Once per daemon and broker: the kernel must show that this process holds a listener bound at
      // the service's own path (not another directory's socket reached through a link) as this user.
      // Later calls about the same instance, pid and start time skip it, so the warm hot path keeps
      // its cost; a fresh launcher JVM pays it once (a /proc/net/unix and /proc/<pid>/fd read).
      DaemonVerification.Verdict v = DaemonVerification.verify(paths, r);
      if (v instanceof DaemonVerification.Refused refused) {
        return new Stale(SpawnReason.CORRUPT_LOCKFILE, "FOREIGN: lockfile " + paths.lockfile() + " names pid "
            + r.pid() + ", which is alive but not this service's daemon: " + refused.why(), Optional.of(r), true);
      }
      if (v instanceof DaemonVerification.Gone gone) {
        return new Stale(SpawnReason.DEAD_PID, gone.why(), Optional.of(r), false);
      }
      verified = r;
    }
    return new Healthy(r, stat == null ? '?' : stat.state());
  }

  private volatile LockfileRecord verified;

  private boolean verifiedBefore(LockfileRecord r) {
    LockfileRecord v = verified;
    return v != null && v.pid() == r.pid() && v.instanceId().equals(r.instanceId())
        && v.processStartTime().equals(r.processStartTime());
  }

  /**
   * A lockfile that cannot be read as a record: what is not a regular file is never removed, and
   * what is one is cleared only when none of the service's endpoints answers.
   */
  private static Assessment unreadable(ServiceDefinition definition, ServiceLayout paths, LockfileException e) {
    if (e.reason() == LockfileException.Reason.SYMLINK || e.reason() == LockfileException.Reason.NOT_A_REGULAR_FILE) {
      return new Untrusted(new UntrustedStateException(definition.name(), UntrustedStateException.Kind.NOT_A_RUNTIME_FILE,
          paths.lockfile(), -1, "daemon '" + definition.name() + "': " + e.getMessage()
              + " (fastbind never removes it itself)"));
    }
    if (Trust.answers(paths)) {
      String versions = e.reason() == LockfileException.Reason.FUTURE_VERSION
          ? " This launcher reads lockfile format " + LockfileCodec.FORMAT_VERSION
              + " and older: upgrade the launcher to one that reads the daemon's format, or stop the daemon"
              + " with the launcher that started it."
          : " Stop whatever serves " + paths.endpoint() + " (" + Trust.holdersText(paths)
              + "), then run again; the broker will then replace the file.";
      return new Untrusted(new UntrustedStateException(definition.name(),
          UntrustedStateException.Kind.UNREADABLE_LOCKFILE, paths.lockfile(), -1, "daemon '" + definition.name()
              + "': " + e.reason() + ": " + e.getMessage() + "; yet the service's endpoint answers, so the file was"
              + " left in place and nothing was changed." + versions));
    }
    return new Stale(SpawnReason.CORRUPT_LOCKFILE, e.reason() + ": " + e.getMessage(), Optional.empty(), false);
  }


  /** What the broker reports for a record: where to connect, who it is, why it was spawned, how long the call took. */
  public static DaemonInfo info(ServiceDefinition definition, LockfileRecord r, Optional<SpawnReason> reason,
      String detail, long start) {
    return new DaemonInfo(definition.name(), r.endpoint(), r.controlEndpoint(), r.pid(), r.instanceId(),
        r.daemonVersion().isEmpty() ? Optional.empty() : Optional.of(r.daemonVersion()), reason, detail,
        Duration.ofNanos(System.nanoTime() - start));
  }
}
