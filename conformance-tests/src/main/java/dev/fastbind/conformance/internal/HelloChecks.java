package dev.fastbind.conformance.internal;

import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import java.util.ArrayList;
import java.util.List;

/**
 * What rule 303 checks in the daemon's {@code HELLO} replies. The state is always {@code WARMING}
 * or {@code READY} once a reply decodes (the decoder rejects anything else), so what can be wrong
 * is who answers and whether the state goes backwards.
 */
public final class HelloChecks {

  private HelloChecks() {}

  /** How {@code hello} differs from the daemon the broker reported; empty when it is that daemon. */
  public static List<String> identityProblems(HelloReply hello, long pid, String instanceId, String service) {
    List<String> wrong = new ArrayList<>();
    if (hello.pid() != pid) {
      wrong.add("pid " + hello.pid() + " (the daemon is " + pid + ")");
    }
    if (!hello.instanceId().equals(instanceId)) {
      wrong.add("instance " + hello.instanceId() + " (the lockfile names " + instanceId + ")");
    }
    if (!hello.service().equals(service)) {
      wrong.add("service " + hello.service() + " (expected " + service + ")");
    }
    return wrong;
  }

  /**
   * How a later reply differs from an earlier one of the same daemon: another daemon answering, or
   * the state back from {@code READY} to {@code WARMING} (warm-up never starts again); empty when
   * neither.
   */
  public static List<String> laterProblems(HelloReply earlier, HelloReply later) {
    List<String> wrong = identityProblems(later, earlier.pid(), earlier.instanceId(), earlier.service());
    if (earlier.state() == DaemonState.READY && later.state() != DaemonState.READY) {
      wrong.add("state " + later.state() + " after " + DaemonState.READY);
    }
    return wrong;
  }
}
