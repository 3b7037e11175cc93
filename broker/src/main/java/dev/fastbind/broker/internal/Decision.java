package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.DaemonUnresponsiveException;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.SpawnReason;
import dev.fastbind.broker.UnresponsivePolicy;
import dev.fastbind.broker.VersionMismatchException;
import dev.fastbind.broker.VersionPolicy;
import java.io.IOException;
import java.util.Objects;
import java.util.Optional;

/** What to do with a daemon the hot path found healthy: reuse it, or replace it and why. */
public sealed interface Decision {

  /**
   * Hand out this daemon.
   *
   * @param daemon what the caller gets
   */
  record Reuse(DaemonInfo daemon) implements Decision {
    /** Validates the component. */
    public Reuse {
      Objects.requireNonNull(daemon, "daemon");
    }
  }

  /**
   * Leave the daemon alone and use (or start) one with this launcher's compatibility key beside it.
   *
   * @param pid the running, incompatible daemon
   * @param diff what differs, one line
   */
  record SideBySide(long pid, String diff) implements Decision {
    /** Validates the component. */
    public SideBySide {
      Objects.requireNonNull(diff, "diff");
    }
  }

  /**
   * Replace the daemon on the cold path.
   *
   * @param instanceId the instance this decision was made about; a different one under the spawn
   *     lock means another launcher acted meanwhile, and the decision is made again
   * @param reason the spawn reason the replacement reports
   * @param detail the human-readable detail
   */
  record Replace(String instanceId, SpawnReason reason, String detail) implements Decision {
    /** Validates the components. */
    public Replace {
      Objects.requireNonNull(instanceId, "instanceId");
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(detail, "detail");
    }
  }

  /**
   * Decides by the definition's version and unresponsiveness policies. A version mismatch replaces
   * the daemon with {@link VersionPolicy#RESTART_EVEN_IF_NEWER}, and with {@link VersionPolicy#RESTART}
   * unless {@link VersionOrder} puts the running version above the definition's; the hot path pays the
   * comparison only when the two strings differ.
   *
   * @param start when the call began ({@link System#nanoTime()}), for the reported elapsed time
   * @throws VersionMismatchException if versions differ and the policy is {@link VersionPolicy#FAIL}
   * @throws DaemonUnresponsiveException if it is stopped, does not answer {@code HELLO} and the policy
   *     is {@link UnresponsivePolicy#REPORT}
   */
  static Decision about(ServiceDefinition definition, Assessment.Healthy h, long start) throws IOException {
    LockfileRecord r = h.record();
    String wanted = DefinitionAccess.compatibility(definition);
    // A daemon that recorded no key (an older SDK, or a broker that gave none) is taken as it is.
    if (!r.compatibility().isEmpty() && !r.compatibility().equals(wanted)) {
      String diff = dev.fastbind.backend.internal.wire.Compatibility.diff(r.compatibility(), wanted);
      if (definition.compatibilityPolicy() == dev.fastbind.broker.CompatibilityPolicy.REPLACE) {
        return new Replace(r.instanceId(), SpawnReason.COMPATIBILITY_MISMATCH, "pid " + r.pid()
            + " runs with another compatibility key: " + diff);
      }
      return new SideBySide(r.pid(), diff);
    }
    if (definition.version().isPresent() && !definition.version().get().equals(r.daemonVersion())) {
      String expected = definition.version().get();
      VersionPolicy policy = definition.versionPolicy();
      if (policy == VersionPolicy.FAIL) {
        throw new VersionMismatchException(definition.name(), expected, r.daemonVersion(), r.pid());
      }
      if (policy == VersionPolicy.RESTART || policy == VersionPolicy.RESTART_EVEN_IF_NEWER) {
        boolean newer = VersionOrder.compare(r.daemonVersion(), expected) == VersionOrder.Order.NEWER;
        if (!newer || policy == VersionPolicy.RESTART_EVEN_IF_NEWER) {
          return new Replace(r.instanceId(), SpawnReason.VERSION_MISMATCH, "pid " + r.pid() + " ran version "
              + r.daemonVersion() + ", expected " + expected
              + (newer ? " (a downgrade, as VersionPolicy.RESTART_EVEN_IF_NEWER asks)" : ""));
        }
        // RESTART and a newer daemon: kept, since by default a launcher never replaces a newer daemon
      }
    }
    // Only a process procfs shows stopped is asked: asking every time would cost the hot path a round trip.
    if (h.stopped() && !answersHello(definition, r)) {
      if (definition.unresponsivePolicy() == UnresponsivePolicy.REPORT) {
        throw new DaemonUnresponsiveException(definition.name(), r.pid(), definition.probeBudget(),
            "process state " + h.state() + ": stopped by a signal or a debugger; HELLO timed out");
      }
      return new Replace(r.instanceId(), SpawnReason.UNRESPONSIVE, "pid " + r.pid()
          + " is stopped and did not answer HELLO within " + definition.probeBudget().toMillis() + " ms");
    }
    return new Reuse(Assessor.info(definition, r, Optional.empty(), "", start));
  }

  private static boolean answersHello(ServiceDefinition definition, LockfileRecord r) {
    try {
      ControlClient.hello(r.controlEndpoint(), definition.probeBudget());
      return true;
    } catch (IOException e) {
      // timed out, refused (a full backlog), hung up, or not our protocol: the process is stopped
      // either way, and replacing it goes through verification first
      return false;
    }
  }
}
