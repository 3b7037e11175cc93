package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.StopResult;
import dev.fastbind.broker.UntrustedStateException;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Ending a daemon on purpose: {@link #terminate} a verified one ({@code SHUTDOWN}, then
 * {@code SIGTERM}, then {@code SIGKILL} of its tree), or {@link #clearStale} a record whose daemon is
 * gone. Nothing here signals a process that {@link DaemonVerification} has not confirmed. The caller
 * holds the service's spawn lock.
 */
public final class Stopping {
  private Stopping() {}

  /** How long a kill waits for the process tree to be gone, after {@code SIGKILL}. */
  static final Duration KILL_WAIT = Duration.ofSeconds(2);

  /**
   * Clears a stale record: a live process it names is stopped ({@link #terminate}) only when it is
   * confirmed as this service's daemon (an unconfirmed one is left alone, and only the claim about
   * it is dropped); the
   * lockfile goes only while it is a regular file; socket files go only while nobody listens.
   *
   * @throws UntrustedStateException if an endpoint still accepts connections afterwards (named holder)
   *     or something other than a socket stands at a socket path
   */
  public static void clearStale(ServiceDefinition definition, ServiceLayout paths, Assessment.Stale s) throws IOException {
    Deaths.complete(definition, paths, s); // a daemon gone without a record gets the broker's
    if (s.processAlive() && s.record().isPresent()
        && !(DaemonVerification.verify(paths, s.record().get()) instanceof DaemonVerification.Refused)) {
      // A live daemon whose endpoint no longer accepts: ended as stop would end it (SHUTDOWN, then
      // signals), within one probe budget, and only once confirmed. One that cannot be confirmed is
      // left alone; only the claim about it is dropped below.
      try {
        terminate(definition, paths, s.record().get(), definition.probeBudget());
        return;
      } catch (UntrustedStateException notTheDaemon) {
        if (notTheDaemon.kind() != UntrustedStateException.Kind.UNVERIFIED_PROCESS
            && notTheDaemon.kind() != UntrustedStateException.Kind.IMPOSTOR) {
          throw notTheDaemon;
        }
      }
    }
    // Something still listens (the process the record names was not the daemon, or the endpoint is
    // held by another): report it, and change nothing, the record included.
    Optional<UntrustedStateException> held = Trust.heldEndpoint(definition, paths,
        "the recorded daemon is gone (" + s.detail() + ")");
    if (held.isPresent()) {
      throw held.get();
    }
    if (s.record().isPresent()) {
      Lockfiles.deleteIfOwnedBy(paths.lockfile(), s.record().get().instanceId());
    } else {
      RuntimeFiles.deleteIfRegular(paths.lockfile()); // what is not a regular file was reported in assess()
    }
    Trust.clearEndpoints(definition, paths, "the recorded daemon is gone (" + s.detail() + ")");
  }

  /**
   * Ends the recorded daemon once the kernel has confirmed it ({@link DaemonVerification}): a live
   * one is asked {@code SHUTDOWN} after a {@linkplain #verifiedHello verified HELLO}, then signalled.
   */
  public static StopResult terminate(ServiceDefinition definition, ServiceLayout paths, LockfileRecord r, Duration grace)
      throws IOException {
    long deadline = System.nanoTime() + grace.toNanos();
    DaemonVerification.Verdict verdict = DaemonVerification.verify(paths, r);
    if (verdict instanceof DaemonVerification.Refused refused) {
      throw Trust.unverified(definition, paths, r, refused);
    }
    Optional<ProcessHandle> handle = ProcessHandle.of(r.pid());
    if (verdict instanceof DaemonVerification.Gone || handle.isEmpty()) {
      Lockfiles.deleteIfOwnedBy(paths.lockfile(), r.instanceId());
      Trust.clearEndpoints(definition, paths, "the recorded daemon is gone");
      return StopResult.CLEANED_STALE;
    }
    DaemonVerification.Verified v;
    boolean confirmedByHello = false;
    if (verdict instanceof DaemonVerification.Unconfirmed u) {
      // No broker's mark: only a HELLO from it, checked against the record, its peer credentials and
      // the path it answers on, makes it the daemon. Otherwise nothing is signalled.
      try {
        Trust.verifiedHello(definition, paths, r, Duration.ofNanos(
            Math.min(definition.probeBudget().toNanos(), Math.max(1, deadline - System.nanoTime()))));
      } catch (UntrustedStateException e) {
        throw e;
      } catch (IOException e) {
        throw Trust.unverified(definition, paths, r, new DaemonVerification.Refused(u.why()
            + ", and it did not answer HELLO as the recorded daemon (" + e.getMessage() + ")"));
      }
      v = u.verified();
      confirmedByHello = true;
    } else {
      v = (DaemonVerification.Verified) verdict;
    }
    ProcessHandle h = handle.get();
    StopResult result;
    boolean acknowledged = false;
    if (v.stopped()) {
      signal(v, "TERM", h);
      if (v.leadsOwnGroup()) {
        ProcessTree.signalGroup(r.pid(), "CONT");
      }
    } else {
      long askBudget = Math.min(definition.probeBudget().toNanos(), Math.max(1, deadline - System.nanoTime()));
      try {
        if (!confirmedByHello) {
          Trust.verifiedHello(definition, paths, r, Duration.ofNanos(askBudget));
        }
        ControlClient.shutdown(paths.controlEndpoint(), Duration.ofNanos(askBudget),
            ControlClient.expecting(paths.controlEndpoint(), r.pid()));
        acknowledged = true;
      } catch (UntrustedStateException e) {
        throw e;
      } catch (ControlClient.PeerMismatchException e) {
        throw Trust.impostor(definition, paths, e.peer().pid(), e.getMessage());
      } catch (IOException e) {
        acknowledged = false; // wedged, or not speaking the protocol: the verified process gets signals
      }
    }
    if (acknowledged && awaitExit(h, deadline - (deadline - System.nanoTime()) / 4)) {
      result = StopResult.SHUT_DOWN;
    } else {
      signal(v, "TERM", h);
      if (awaitExit(h, deadline)) {
        result = StopResult.TERMINATED;
      } else {
        ProcessTree.killTree(h, v.leadsOwnGroup(), System.nanoTime() + KILL_WAIT.toNanos());
        result = StopResult.KILLED;
        // It could not record its end; the record says it was stopped, so that no watcher of a
        // kept-alive daemon takes the kill for a crash and starts it again.
        Deaths.killedByStop(definition, paths, r);
      }
    }
    Lockfiles.deleteIfOwnedBy(paths.lockfile(), r.instanceId());
    try {
      Trust.clearEndpoints(definition, paths, "the daemon was stopped");
    } catch (UntrustedStateException e) {
      // The daemon is gone, which is what was asked; a link or file left at a socket path is
      // reported by the next call that needs the path, not as if nothing had been done.
      if (e.kind() != UntrustedStateException.Kind.NOT_A_RUNTIME_FILE) {
        throw e;
      }
    }
    // A daemon ended on purpose did not crash: its spawns must not count toward the crash-loop limit,
    // or a launcher that restarts its daemon (stop, version change) would soon be refused.
    CrashLoopGuard.forget(paths.spawns());
    return result;
  }

  private static void signal(DaemonVerification.Verified v, String signal, ProcessHandle h) {
    if (v.leadsOwnGroup()) {
      ProcessTree.signalGroup(v.pid(), signal);
    } else if ("KILL".equals(signal)) {
      h.destroyForcibly();
    } else {
      h.destroy();
    }
  }

  /**
   * Waits until the daemon is gone or {@code deadline}: reaped, or a zombie whose threads have all
   * exited ({@link ProcessTree#awaitGone}). Not the JDK's {@code onExit}, which waits for the reap: a
   * daemon detached from its launcher is reaped by init, and a container's init may take seconds to
   * do it while the process holds nothing any more.
   */
  private static boolean awaitExit(ProcessHandle h, long deadline) {
    if (!ProcessTree.awaitGone(List.of(h), deadline)) {
      return false;
    }
    // This JVM's own child is reaped by the JDK's process reaper a moment later: wait for that (briefly),
    // so that the caller finds it gone; anyone else's child is its parent's or init's to reap.
    if (h.parent().map(p -> p.pid() == ProcessHandle.current().pid()).orElse(false)) {
      long wait = Math.max(deadline - System.nanoTime(), REAP_WAIT_NANOS);
      try {
        h.onExit().get(wait, TimeUnit.NANOSECONDS);
      } catch (TimeoutException | ExecutionException e) {
        // exited all the same (awaitGone saw it); the reaper is late
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return true;
  }

  /** How long a stop waits for the JDK to reap its own child that has exited, past its deadline if need be. */
  private static final long REAP_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

}
