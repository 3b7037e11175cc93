package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.SocketHolders;

/**
 * Proves with what the kernel reports, not with what a file says, that a lockfile record describes
 * this service's live daemon. Nothing in the broker signals a process that has not passed
 * {@link #verify}.
 *
 * <p>A record passes when all of these hold:
 *
 * <ol>
 *   <li>it was written in this boot ({@code boot-id});
 *   <li>its pid is above 1 and is not this process (its group is signalled only when it leads a group
 *       that is not this process's own);
 *   <li>{@code /proc/<pid>/stat} shows a live (not zombie) process with the recorded start time, so a
 *       reused pid never passes;
 *   <li>{@code /proc/<pid>/status} shows the same real and effective uid as this process;
 *   <li>the process holds a listening socket bound at one of the service's own endpoints
 *       ({@link SocketHolders}): the mark of a fastbind daemon that no unrelated process bears, since
 *       the SDK binds both endpoints before it writes the record and keeps them until it exits. It holds
 *       for daemons the broker spawned, for daemons started by hand and for socket-activated ones.
 * </ol>
 *
 * The caller has already checked that the record's endpoints are the definition's own. Without
 * procfs (off Linux) nothing can be verified and every live record is refused: the broker then
 * reports instead of signalling.
 */
public final class DaemonVerification {
  private DaemonVerification() {}

  /** What {@link #verify} concluded. */
  public sealed interface Verdict {}

  /**
   * The record's process is this service's daemon.
   *
   * @param pid its pid
   * @param leadsOwnGroup whether it leads a process group other than this process's, so that the
   *     group may be signalled as a whole
   * @param stopped whether it is stopped by a signal or a tracer
   */
  public record Verified(long pid, boolean leadsOwnGroup, boolean stopped) implements Verdict {}

  /** The recorded process no longer exists (dead, zombie, pid reused, or written before a reboot). */
  public record Gone(String why) implements Verdict {}

  /** A process with the recorded pid and start time exists, but it is not provably the daemon. */
  public record Refused(String why) implements Verdict {}

  /** Checks {@code record} against the kernel; see the class doc. */
  public static Verdict verify(ServiceLayout paths, LockfileRecord record) {
    long pid = record.pid();
    if (!record.bootId().equals(ProcessIdentity.bootId())) {
      return new Gone("the lockfile was written before the last boot");
    }
    if (pid <= 0) {
      return new Refused("pid " + pid + " is never a daemon");
    }
    ProcessIdentity.Stat st = ProcessIdentity.stat(pid);
    if (st == null) {
      if (ProcessHandle.of(pid).isPresent() && !new java.io.File("/proc/self").isDirectory()) {
        return new Refused("without /proc, pid " + pid + " cannot be verified as the daemon");
      }
      return new Gone("pid " + pid + " is not running");
    }
    if (st.exited()) {
      return new Gone("pid " + pid + " has exited");
    }
    if (!st.startTime().equals(record.processStartTime())) {
      return new Gone("pid " + pid + " now belongs to another process (started " + st.startTime()
          + ", lockfile says " + record.processStartTime() + ")");
    }
    if (pid == 1) {
      return new Refused("pid " + pid + " is never a daemon");
    }
    if (pid == ProcessIdentity.currentPid()) {
      return new Refused("pid " + pid + " is this launcher itself");
    }
    long me = ProcessIdentity.currentUid();
    long real = SocketHolders.realUid(pid);
    long effective = SocketHolders.effectiveUid(pid);
    if (real != me || effective != me) {
      return new Refused("pid " + pid + " runs as uid " + real + "/" + effective + ", not as this user (uid " + me
          + ")");
    }
    if (!SocketHolders.holds(pid, paths.endpoint()) && !SocketHolders.holds(pid, paths.controlEndpoint())) {
      return new Refused("pid " + pid + " (" + SocketHolders.command(pid) + ") does not hold " + paths.endpoint()
          + " or " + paths.controlEndpoint() + ", so it is not this service's daemon");
    }
    // The group is signalled only when the daemon leads it and it is not this launcher's own group
    // (a launcher started from inside the daemon's group must not signal itself).
    ProcessIdentity.Stat self = ProcessIdentity.stat(ProcessIdentity.currentPid());
    long ownGroup = self == null ? -1 : self.processGroup();
    boolean leads = st.processGroup() == pid && pid != ownGroup;
    return new Verified(pid, leads, st.state() == 'T' || st.state() == 't');
  }
}
