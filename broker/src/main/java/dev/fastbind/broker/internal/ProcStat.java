package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.Bootstrap;
import dev.fastbind.backend.internal.ProcessIdentity;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A process's scheduling state and process group from {@code /proc/<pid>/stat} (Linux), read with
 * {@link ProcessIdentity#stat(long)}. Used off the hot path (which keeps the {@code Stat} it read for
 * the start-time check) to notice a stopped daemon ({@code T}) and to know whether a daemon leads its
 * own process group before signalling the group.
 *
 * @param state the state letter ({@code R}, {@code S}, {@code T}, {@code Z}…)
 * @param processGroup the process group id
 */
public record ProcStat(char state, long processGroup) {

  /** The state of {@code pid}, or null when it cannot be read (no such process, no procfs). */
  public static ProcStat read(long pid) {
    ProcessIdentity.Stat s = ProcessIdentity.stat(pid);
    return s == null ? null : new ProcStat(s.state(), s.processGroup());
  }

  /**
   * Whether {@code pid}'s environment holds {@code FASTBIND_SERVICE=<service>}, that is, whether it
   * was started by a broker as that service's daemon. False when unreadable.
   */
  public static boolean isDaemonOf(long pid, String service) {
    byte[] env;
    try {
      env = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "environ"));
    } catch (IOException | RuntimeException e) {
      return false;
    }
    String wanted = "\0" + Env.SERVICE + "=" + service + "\0";
    return ("\0" + new String(env, StandardCharsets.ISO_8859_1) + "\0").contains(wanted);
  }

  /** Whether the process is stopped by a signal or a tracer. */
  public boolean stopped() {
    return state == 'T' || state == 't';
  }
}
