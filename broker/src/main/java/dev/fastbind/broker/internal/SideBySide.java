package dev.fastbind.broker.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.internal.ControlClient;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.wire.Compatibility;
import dev.fastbind.backend.internal.wire.LockfileException;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Daemons of one service that run side by side because their compatibility keys differ
 * ({@code CompatibilityPolicy.SIDE_BY_SIDE}). The service's first daemon uses the plain files
 * ({@code s.sock}, {@code s.lock}); each other key has its own ({@code s~<id>.sock}, …), so a
 * launcher looks first at the plain files, then at its key's. The bound
 * ({@link ServiceDefinition#maxSideBySide()}) counts every live daemon of the service; starting one
 * more stops the one whose {@code STATUS} reports it idle longest (never a busy one).
 */
public final class SideBySide {
  private SideBySide() {}

  private static final class Log {
    static final System.Logger LOG = System.getLogger("dev.fastbind.broker");
  }

  /** The files of {@code definition}'s key beside the service's first daemon. */
  public static ServiceLayout layout(ServiceDefinition definition, ServiceLayout primary) throws IOException {
    try {
      return ServiceLayout.keyed(definition.name(), primary.directory(),
          Compatibility.id(DefinitionAccess.compatibility(definition)));
    } catch (BindException.InvalidEndpoint e) {
      throw new IOException("daemon '" + definition.name() + "': a side-by-side daemon's socket path would be too"
          + " long in " + primary.directory() + ": " + e.getMessage() + "; choose a shorter runtime directory", e);
    }
  }

  /**
   * A healthy daemon with this definition's key in its side-by-side files, when the first daemon's
   * files hold none: asked only off the hot path (the first slot is empty or stale).
   */
  public static Optional<DaemonInfo> reusable(ServiceDefinition definition, ServiceLayout primary, Assessor assessor,
      long start) throws IOException {
    if (DefinitionAccess.compatibility(definition).isEmpty()) {
      return Optional.empty();
    }
    ServiceLayout keyed = layout(definition, primary);
    if (!Files.exists(keyed.lockfile(), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return Optional.empty();
    }
    if (assessor.assess(definition, keyed) instanceof Assessment.Healthy h
        && Decision.about(definition, h, start) instanceof Decision.Reuse reuse) {
      return Optional.of(reuse.daemon());
    }
    return Optional.empty();
  }

  /** One line for the launcher's log: why the running daemon was not reused. */
  public static void log(ServiceDefinition definition, Decision.SideBySide beside) {
    Log.LOG.log(System.Logger.Level.INFO, "daemon '" + definition.name() + "': not reusing pid " + beside.pid()
        + ", its compatibility key differs (" + beside.diff() + "); using one beside it");
  }

  /** One line for the launcher's log, when a daemon is replaced for its key. */
  public static void logReplacement(ServiceDefinition definition, Decision.Replace replace) {
    if (replace.reason() == dev.fastbind.broker.SpawnReason.COMPATIBILITY_MISMATCH) {
      Log.LOG.log(System.Logger.Level.INFO, "daemon '" + definition.name() + "': replacing it: " + replace.detail());
    }
  }

  /** A live daemon of the service, where it lives, and how long it has been idle (-1: busy or unknown). */
  private record Live(ServiceLayout paths, LockfileRecord record, long idleMillis) {}

  /**
   * Called under the spawn lock of {@code starting}, before a side-by-side daemon is spawned there:
   * stops the idlest other daemons of the service until one more fits within the bound. Returns
   * what it did, for the spawn detail ("" when nothing).
   */
  public static String retireBeyondBound(ServiceDefinition definition, ServiceLayout starting, Assessor assessor) {
    List<Live> live = live(definition, starting, assessor);
    StringBuilder done = new StringBuilder();
    while (live.size() + 1 > definition.maxSideBySide()) {
      Live idlest = null;
      for (Live l : live) {
        if (l.idleMillis() >= 0 && (idlest == null || l.idleMillis() > idlest.idleMillis())) {
          idlest = l;
        }
      }
      if (idlest == null) {
        done.append("; ").append(live.size()).append(" side-by-side daemons run and all are busy, so this one goes")
            .append(" above the bound of ").append(definition.maxSideBySide());
        break;
      }
      try {
        Stopping.terminate(definition, idlest.paths(), idlest.record(), definition.probeBudget());
        done.append("; stopped pid ").append(idlest.record().pid()).append(" (idle ")
            .append(Duration.ofMillis(idlest.idleMillis())).append(") to stay within ")
            .append(definition.maxSideBySide()).append(" side-by-side daemons");
        Log.LOG.log(System.Logger.Level.INFO, "daemon '" + definition.name() + "': stopped pid "
            + idlest.record().pid() + ", idle " + Duration.ofMillis(idlest.idleMillis()) + ", to stay within "
            + definition.maxSideBySide() + " side-by-side daemons");
      } catch (IOException e) {
        done.append("; could not stop pid ").append(idlest.record().pid()).append(": ").append(e.getMessage());
      }
      live.remove(idlest);
    }
    return done.toString();
  }

  /** Every live daemon of the service in the directory but the one at {@code except}. */
  private static List<Live> live(ServiceDefinition definition, ServiceLayout except, Assessor assessor) {
    List<ServiceLayout> slots = new ArrayList<>();
    try {
      slots.add(ServiceLayout.of(definition.name(), except.directory()));
    } catch (BindException.InvalidEndpoint e) {
      return List.of();
    }
    String prefix = definition.name() + ServiceLayout.KEY_SEPARATOR;
    try (DirectoryStream<Path> files = Files.newDirectoryStream(except.directory(), prefix + "*.lock")) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        String id = name.substring(prefix.length(), name.length() - ServiceLayout.LOCKFILE_SUFFIX.length());
        try {
          slots.add(ServiceLayout.keyed(definition.name(), except.directory(), id));
        } catch (BindException.InvalidEndpoint e) {
          // not a layout this broker could have made
        }
      }
    } catch (IOException e) {
      // an unreadable directory: count only the first slot
    }
    List<Live> live = new ArrayList<>();
    for (ServiceLayout slot : slots) {
      if (slot.lockfile().equals(except.lockfile())) {
        continue;
      }
      Optional<LockfileRecord> r;
      try {
        r = Lockfiles.read(slot.lockfile());
      } catch (LockfileException e) {
        continue;
      }
      if (r.isEmpty() || !(assessor.assess(definition, slot) instanceof Assessment.Healthy)) {
        continue;
      }
      live.add(new Live(slot, r.get(), idleMillis(slot, definition)));
    }
    return live;
  }

  private static long idleMillis(ServiceLayout slot, ServiceDefinition definition) {
    try {
      Map<String, String> status = ControlClient.status(slot.controlEndpoint(), definition.probeBudget());
      String busy = status.get("busy");
      String idle = status.get("idle-ms");
      if (busy == null || idle == null || !busy.equals("0")) {
        return -1;
      }
      return Long.parseLong(idle);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }
}
