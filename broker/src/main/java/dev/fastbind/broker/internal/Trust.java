package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.HelloReply;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.SocketHolders;
import dev.fastbind.broker.RuntimeFileException;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.UntrustedStateException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Who is really on the other side of a service's endpoints, and the errors that say so: whether an
 * endpoint answers, which processes hold it ({@link SocketHolders}), a {@code HELLO} that counts only
 * from the recorded pid ({@link #verifiedHello}), and the clean-up that frees the endpoint paths for a
 * new daemon without removing anything that is not a dead socket ({@link #clearEndpoints}).
 */
public final class Trust {
  private Trust() {}

  /** Whether a socket (never a link) at either of the service's endpoints accepts a connection. */
  public static boolean answers(ServiceLayout paths) {
    return socketAnswers(paths.endpoint()) || socketAnswers(paths.controlEndpoint());
  }

  public static boolean socketAnswers(Endpoint e) {
    Path p = e.path().orElseThrow();
    try {
      return RuntimeFiles.kindOf(p) == RuntimeFiles.Kind.SOCKET && Probe.connects(p);
    } catch (RuntimeFileException unexaminable) {
      return false; // reported by the clean-up that needs the path
    }
  }

  public static String holdersText(ServiceLayout paths) {
    List<SocketHolders.Holder> found = new ArrayList<>(SocketHolders.holders(paths.endpoint()));
    for (SocketHolders.Holder h : SocketHolders.holders(paths.controlEndpoint())) {
      if (!found.contains(h)) {
        found.add(h);
      }
    }
    if (found.isEmpty()) {
      return "its holder could not be found in /proc";
    }
    StringBuilder b = new StringBuilder("held by ");
    for (int i = 0; i < found.size(); i++) {
      b.append(i == 0 ? "" : ", ").append(found.get(i).describe());
    }
    return b.toString();
  }

  /**
   * When no live daemon is recorded but an endpoint of the service still accepts, the error that names
   * the process holding it: a child that inherited the listener from a killed daemon, or another
   * program bound at the path. Nothing can be spawned beside it, and nothing is removed.
   */
  public static Optional<UntrustedStateException> heldEndpoint(ServiceDefinition definition, ServiceLayout paths,
      String situation) {
    for (Endpoint e : new Endpoint[] {paths.endpoint(), paths.controlEndpoint()}) {
      if (socketAnswers(e)) {
        List<SocketHolders.Holder> holders = SocketHolders.holders(e);
        long pid = holders.isEmpty() ? -1 : holders.get(0).pid();
        String who = holders.isEmpty()
            ? "no process that binds it there (it is probably a link to another socket: remove it), or one this"
                + " user cannot see in /proc"
            : holders.get(0).describe();
        return Optional.of(new UntrustedStateException(definition.name(), UntrustedStateException.Kind.ENDPOINT_HELD,
            e.path().orElseThrow(), pid, "daemon '" + definition.name() + "': " + situation + ", but " + e
                + " still accepts connections, held by " + who + "; no daemon can bind there beside it. "
                + (pid > 0 ? "Stop that process (kill " + pid + ") if it is a leftover of an old daemon, then run again."
                    : "Find and stop the process listening there, then run again.")));
      }
    }
    return Optional.empty();
  }

  /**
   * Makes the service's endpoint paths free for a new daemon: removes socket files nobody listens on,
   * and refuses (without removing anything) a socket that still accepts or a link, directory, FIFO or
   * regular file in a socket's place. Returns whether a socket file was removed.
   */
  public static boolean clearEndpoints(ServiceDefinition definition, ServiceLayout paths, String situation)
      throws IOException {
    Optional<UntrustedStateException> held = heldEndpoint(definition, paths, situation);
    if (held.isPresent()) {
      throw held.get();
    }
    boolean removed = false;
    for (Endpoint e : new Endpoint[] {paths.endpoint(), paths.controlEndpoint()}) {
      Path p = e.path().orElseThrow();
      RuntimeFiles.Kind kind = RuntimeFiles.kindOf(p);
      if (kind != RuntimeFiles.Kind.ABSENT && kind != RuntimeFiles.Kind.SOCKET) {
        throw new UntrustedStateException(definition.name(), UntrustedStateException.Kind.NOT_A_RUNTIME_FILE, p, -1,
            "daemon '" + definition.name() + "': " + RuntimeFiles.refusal(p, kind, RuntimeFiles.Kind.SOCKET));
      }
      removed |= RuntimeFiles.clearDeadSocket(p) == RuntimeFiles.SocketState.REMOVED;
    }
    return removed;
  }

  /** {@link #clearEndpoints} after a failed spawn, which must not hide the spawn's own error. */
  public static void clearEndpointsQuietly(ServiceDefinition definition, ServiceLayout paths, Throwable cause) {
    try {
      clearEndpoints(definition, paths, "the daemon did not start");
    } catch (IOException e) {
      if (cause != null) {
        cause.addSuppressed(e);
      }
    }
  }

  /**
   * Asks {@code HELLO} of the recorded daemon and accepts the answer only from the recorded pid,
   * running as this user (the kernel's peer credentials), naming the recorded service, pid and
   * instance.
   *
   * @throws UntrustedStateException ({@link UntrustedStateException.Kind#IMPOSTOR}) on any mismatch
   */
  public static HelloReply verifiedHello(ServiceDefinition definition, ServiceLayout paths, LockfileRecord r,
      Duration timeout) throws IOException {
    Endpoint control = paths.controlEndpoint();
    HelloReply hello;
    try {
      hello = ControlClient.hello(control, timeout, ControlClient.expecting(control, r.pid()));
    } catch (ControlClient.PeerMismatchException e) {
      throw impostor(definition, paths, e.peer().pid(), e.getMessage());
    }
    if (!SocketHolders.holds(r.pid(), control)) {
      // Reached through a link (symbolic or hard) to another listener: the answer is not this path's.
      throw impostor(definition, paths, r.pid(), "pid " + r.pid() + " answered, but holds no listener bound at "
          + control + " (the path leads to another socket, e.g. through a link)");
    }
    if (!hello.service().equals(definition.name()) || hello.pid() != r.pid()
        || !hello.instanceId().equals(r.instanceId())) {
      throw impostor(definition, paths, r.pid(), "its HELLO names service '" + hello.service() + "', pid "
          + hello.pid() + ", instance " + hello.instanceId() + "; the lockfile names '" + r.service() + "', pid "
          + r.pid() + ", instance " + r.instanceId());
    }
    return hello;
  }

  public static UntrustedStateException impostor(ServiceDefinition definition, ServiceLayout paths, long pid,
      String what) {
    return new UntrustedStateException(definition.name(), UntrustedStateException.Kind.IMPOSTOR,
        paths.controlEndpoint().path().orElseThrow(), pid, "daemon '" + definition.name() + "': the control endpoint "
            + paths.controlEndpoint() + " does not answer as the daemon recorded in " + paths.lockfile() + ": " + what
            + "; nothing was signalled or shut down. Find out who serves it (" + holdersText(paths)
            + ") and stop that process yourself, or remove the lockfile if it is wrong");
  }

  public static UntrustedStateException unverified(ServiceDefinition definition, ServiceLayout paths,
      LockfileRecord r, DaemonVerification.Refused refused) {
    return new UntrustedStateException(definition.name(), UntrustedStateException.Kind.UNVERIFIED_PROCESS,
        paths.lockfile(), r.pid(), "daemon '" + definition.name() + "': refusing to signal pid " + r.pid()
            + " named by " + paths.lockfile() + ": " + refused.why() + ". Nothing was signalled or removed; "
            + (answers(paths) ? "the service's endpoint is " + holdersText(paths) + ". " : "")
            + "if pid " + r.pid() + " is not the daemon, remove the lockfile");
  }
}
