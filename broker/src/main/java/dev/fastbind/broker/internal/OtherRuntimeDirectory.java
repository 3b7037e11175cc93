package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.wire.LockfileException;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.broker.ServiceDefinition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The default runtime directory depends on {@code XDG_RUNTIME_DIR}: {@code $XDG_RUNTIME_DIR/fastbind}
 * when it is set, else {@code ${java.io.tmpdir}/fastbind-$USER}. Launchers that disagree about it
 * (a desktop terminal and a cron job, an IDE started outside the session) find different
 * directories, and would each start a daemon of the service without a word. They cannot be made to
 * share one (neither knows the other's setting), so a cold start in a default directory looks in
 * the other candidate and reports a live daemon of the same service there: in the spawn detail and
 * as a warning in the launcher's log.
 */
public final class OtherRuntimeDirectory {
  private OtherRuntimeDirectory() {}

  private static final class Log {
    static final System.Logger LOG = System.getLogger("dev.fastbind.broker");
  }

  /** "" when nothing runs elsewhere, else a sentence for the spawn detail (which it also logs). */
  public static String note(ServiceDefinition definition) {
    if (definition.runtimeDirectory().isPresent()) {
      return "";
    }
    String xdg = System.getenv("XDG_RUNTIME_DIR");
    boolean xdgSet = xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute();
    Path other = xdgSet
        ? Path.of(System.getProperty("java.io.tmpdir"), Env.APP + "-" + System.getProperty("user.name"))
        : Path.of("/run/user", Long.toString(ProcessIdentity.currentUid()), Env.APP);
    Optional<LockfileRecord> r;
    try {
      Path lock = ServiceLayout.of(definition.name(), other).lockfile();
      if (!Files.isDirectory(other, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        return "";
      }
      r = Lockfiles.read(lock);
    } catch (LockfileException | dev.fastbind.backend.BindException.InvalidEndpoint | RuntimeException e) {
      return "";
    }
    if (r.isEmpty() || !ProcessIdentity.isSameProcess(r.get().pid(), r.get().processStartTime())) {
      return "";
    }
    String note = "; note: another daemon of '" + definition.name() + "' runs in " + other + " (pid " + r.get().pid()
        + "), started by a launcher that " + (xdgSet ? "had no XDG_RUNTIME_DIR" : "had XDG_RUNTIME_DIR set")
        + " while this one " + (xdgSet ? "has XDG_RUNTIME_DIR=" + xdg : "has none") + "; the two share no runtime"
        + " files but may share any state directory the daemon uses: give every launcher the same XDG_RUNTIME_DIR";
    Log.LOG.log(System.Logger.Level.WARNING, "daemon '" + definition.name() + "'" + note.substring(7));
    return note;
  }
}
