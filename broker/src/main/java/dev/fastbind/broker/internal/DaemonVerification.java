package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.SocketHolders;
import dev.fastbind.backend.internal.wire.Env;

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
 *       ({@link SocketHolders}): the SDK binds both before it writes the record and keeps them until
 *       it exits;
 *   <li>its environment, which only the exec that started it set ({@code /proc/<pid>/environ}),
 *       carries the broker's mark: {@code FASTBIND_SERVICE} and {@code FASTBIND_RUNTIME_DIR} naming
 *       this service and this runtime directory. A daemon started by hand or by systemd lacks it
 *       and is {@link Unconfirmed} until a verified {@code HELLO} confirms it; so is any program that
 *       merely bound the service's path.
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

  /**
   * Everything the kernel shows matches, but the process carries no mark of having been started as
   * this service's daemon (it was started by hand, by systemd, or it is any program that bound the
   * service's path): it may be signalled only once a {@code HELLO} from it, checked against the
   * record and its peer credentials, confirms it ({@link Trust#verifiedHello}).
   *
   * @param verified what the signals may use once it is confirmed
   * @param why what is missing, for the error when it is not confirmed
   */
  public record Unconfirmed(Verified verified, String why) implements Verdict {}

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
    java.util.Optional<String> never = neverADaemon(pid);
    if (never.isPresent()) {
      return new Refused(never.get());
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
    if (!startedByABroker(pid, paths)) {
      return new Unconfirmed(leading(pid, st), "pid " + pid + " (" + SocketHolders.command(pid)
          + ") holds the service's endpoint but was not started by a broker as this service's daemon");
    }
    return leading(pid, st);
  }

  /**
   * Why {@code pid} can never be a daemon whatever a record says: init (pid 1, or a non-positive pid)
   * and this launcher itself. Empty for any other pid.
   */
  public static java.util.Optional<String> neverADaemon(long pid) {
    if (pid <= 1) {
      return java.util.Optional.of("pid " + pid + " is never a daemon");
    }
    if (pid == ProcessIdentity.currentPid()) {
      return java.util.Optional.of("pid " + pid + " is this launcher itself");
    }
    return java.util.Optional.empty();
  }

  private static Verified leading(long pid, ProcessIdentity.Stat st) {
    // The group is signalled only when the daemon leads it and it is not this launcher's own group
    // (a launcher started from inside the daemon's group must not signal itself).
    ProcessIdentity.Stat self = ProcessIdentity.stat(ProcessIdentity.currentPid());
    long ownGroup = self == null ? -1 : self.processGroup();
    boolean leads = st.processGroup() == pid && pid != ownGroup;
    return new Verified(pid, leads, st.state() == 'T' || st.state() == 't');
  }

  private static final int MAX_ENVIRON_BYTES = 1 << 20;

  /** Whether {@code pid}'s initial environment names this service and this runtime directory. */
  static boolean startedByABroker(long pid, ServiceLayout paths) {
    String all = environ(pid);
    return all.contains("\0" + Env.SERVICE + "=" + paths.service() + "\0")
        && all.contains("\0" + Env.RUNTIME_DIR + "=" + paths.directory() + "\0");
  }

  /** The value of {@code key} in {@code pid}'s initial environment, if it can be read and is set. */
  static java.util.Optional<String> environValue(long pid, String key) {
    String all = environ(pid);
    int at = all.indexOf("\0" + key + "=");
    if (at < 0) {
      return java.util.Optional.empty();
    }
    int from = at + key.length() + 2;
    return java.util.Optional.of(all.substring(from, all.indexOf('\0', from)));
  }

  /** {@code /proc/<pid>/environ} (capped) between NULs, or "" when it cannot be read. */
  private static String environ(long pid) {
    byte[] env;
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(
        java.nio.file.Path.of("/proc", Long.toString(pid), "environ"))) {
      java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(MAX_ENVIRON_BYTES);
      while (buf.hasRemaining() && ch.read(buf) > 0) {
        // procfs hands the environment in pieces; capped, as a hostile one could be large
      }
      env = java.util.Arrays.copyOf(buf.array(), buf.position());
    } catch (java.io.IOException | RuntimeException e) {
      return "";
    }
    return "\0" + new String(env, java.nio.charset.StandardCharsets.UTF_8) + "\0";
  }

}
