package dev.fastbind.cli;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.broker.ListedDaemon;
import dev.fastbind.broker.ServiceStatus;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/**
 * {@code fastbind doctor}: read-only checks of what makes daemons fail to start or be found: the
 * runtime directory's type, owner and mode, stale files, socket path lengths against the
 * {@value Endpoint#LINUX_MAX_PATH_BYTES}-byte limit of {@code sun_path}, {@code XDG_RUNTIME_DIR},
 * daemons of one service in both the XDG and the fallback directory, and systemd. It reports and
 * never deletes, creates or signals anything. Exit {@value Fastbind#PROBLEMS} when a check found a
 * problem, {@value Fastbind#OK} otherwise (warnings included).
 */
@Command(name = "doctor", description = "Checks the runtime directory and environment; reports, never deletes.")
final class DoctorCommand implements Callable<Integer> {

  @ParentCommand Fastbind root;

  /** The longest suffix of a socket the SDK binds in the runtime directory ({@code .handoff}). */
  private static final String LONGEST_SOCKET_SUFFIX = ".handoff";
  /** {@code ~} and the 16 hex digits of a side-by-side daemon's file names. */
  private static final int KEY_PART = 17;

  private final List<Map<String, Object>> checks = new ArrayList<>();

  private void report(String check, String level, String detail) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("check", check);
    m.put("level", level);
    m.put("detail", detail);
    checks.add(m);
  }

  @Override
  public Integer call() throws Exception {
    Path dir = root.directory();
    String xdg = System.getenv("XDG_RUNTIME_DIR");
    Path xdgDir = xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute() ? Path.of(xdg, "fastbind") : null;
    Path fallback = Path.of(System.getProperty("java.io.tmpdir"), "fastbind-" + System.getProperty("user.name"));

    if (xdgDir != null) {
      report("xdg-runtime-dir", "ok", "XDG_RUNTIME_DIR=" + xdg + "; the default runtime directory is " + xdgDir);
    } else {
      report("xdg-runtime-dir", "warn", (xdg == null || xdg.isEmpty() ? "XDG_RUNTIME_DIR is not set"
          : "XDG_RUNTIME_DIR=" + xdg + " is not an absolute path") + "; the default runtime directory is the fallback "
          + fallback + ", which a login session with XDG_RUNTIME_DIR set does not use: launchers started from"
          + " both kinds of session start separate daemons");
    }
    report("runtime-directory", "info", dir + (root.runtimeDir == null ? " (the default)" : " (--runtime-dir)"));
    boolean safe = directory(dir);
    List<ListedDaemon> listed = List.of();
    if (safe) {
      listed = root.broker.list(dir);
      files(dir, listed);
      pathLengths(dir, listed);
    }
    bothDirectories(xdgDir, fallback);
    systemd(xdg);

    int problems = 0;
    int warnings = 0;
    for (Map<String, Object> c : checks) {
      problems += "problem".equals(c.get("level")) ? 1 : 0;
      warnings += "warn".equals(c.get("level")) ? 1 : 0;
    }
    int code = problems > 0 ? Fastbind.PROBLEMS : Fastbind.OK;
    PrintWriter out = root.spec.commandLine().getOut();
    if (root.json) {
      Map<String, Object> doc = Fastbind.document("doctor");
      doc.put("runtimeDirectory", dir.toString());
      doc.put("checks", checks);
      doc.put("problems", problems);
      doc.put("warnings", warnings);
      doc.put("exit", code);
      out.println(Json.write(doc));
    } else {
      for (Map<String, Object> c : checks) {
        out.printf("%-10s %-18s %s%n", "[" + c.get("level") + "]", c.get("check"), c.get("detail"));
      }
      out.println(problems + (problems == 1 ? " problem, " : " problems, ") + warnings
          + (warnings == 1 ? " warning" : " warnings") + "; nothing was changed");
    }
    return code;
  }

  /** Type, owner and mode of the runtime directory; true when daemons can live in it. */
  private boolean directory(Path dir) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      Path parent = dir.getParent();
      report("directory", parent != null && Files.isDirectory(parent) ? "ok" : "problem", dir + " does not exist yet"
          + (parent != null && Files.isDirectory(parent) ? "; the first launcher creates it with mode rwx------"
              : "; nor does its parent " + parent + ", so no launcher can create it"));
      return false;
    }
    Map<String, Object> a = Files.readAttributes(dir, "unix:mode,uid,gid", LinkOption.NOFOLLOW_LINKS);
    int mode = (Integer) a.get("mode");
    int uid = (Integer) a.get("uid");
    int me = myUid();
    String perms = PosixFilePermissions.toString(Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS));
    if (Files.isSymbolicLink(dir)) {
      report("directory", "problem", dir + " is a symbolic link; the broker refuses it: replace it with a real"
          + " directory (mkdir -m 700)");
      return false;
    }
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      report("directory", "problem", dir + " is not a directory; the broker refuses it: move it away");
      return false;
    }
    if (uid != me) {
      report("directory", "problem", dir + " is owned by uid " + uid + ", not by this user (uid " + me
          + "); the broker refuses it: use another directory");
      return false;
    }
    if ((mode & 0077) != 0) {
      report("directory", "problem", dir + " has mode " + perms + "; the broker refuses anything but owner-only:"
          + " chmod 700 " + dir);
      return false;
    }
    report("directory", "ok", dir + ": a directory owned by uid " + uid + ", mode " + perms);
    return true;
  }

  /** Stale, untrusted, leftover and group- or world-accessible files. */
  private void files(Path dir, List<ListedDaemon> listed) throws IOException {
    Set<String> slots = new TreeSet<>();
    int live = 0;
    for (ListedDaemon d : listed) {
      slots.add(d.slot());
      ServiceStatus s = d.status();
      if (s instanceof ServiceStatus.Stale st) {
        report("stale-lockfile", "warn", d.lockfile() + ": " + st.reason() + ": " + st.detail()
            + "; the next launcher call of '" + d.service() + "' removes it (or fastbind stop " + d.service() + ")");
      } else if (s instanceof ServiceStatus.Untrusted u) {
        report("untrusted", "problem", d.lockfile() + ": " + u.kind() + ": " + u.detail());
      } else if (s instanceof ServiceStatus.Unresponsive u) {
        report("unresponsive", "warn", d.slot() + ": pid " + u.pid() + " does not answer HELLO: " + u.detail());
      } else {
        live++;
      }
    }
    List<String> leftovers = new ArrayList<>();
    List<String> open = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        int mode;
        try {
          mode = (Integer) Files.getAttribute(f, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException gone) {
          continue; // removed meanwhile (a spawn's notify socket, a daemon's exit)
        }
        boolean socketFile = (mode & 0170000) == 0140000;
        if ((mode & 0170000) == 0120000) {
          report("symlink", "problem", f + " is a symbolic link; the broker never follows or removes one: remove it");
          continue;
        }
        if (!socketFile && (mode & 0077) != 0) {
          open.add(name + " (" + PosixFilePermissions.toString(Files.getPosixFilePermissions(f,
              LinkOption.NOFOLLOW_LINKS)) + ")");
        }
        String prefix = prefixOf(name);
        if (name.startsWith(".") && name.contains(".lock.")) {
          leftovers.add(name + " (a lockfile write that did not finish)");
        } else if (prefix != null && (name.endsWith(".sock") || name.endsWith(".ctl")) && !slots.contains(prefix)) {
          leftovers.add(name + " (a socket file without a lockfile)");
        } else if (name.endsWith(".notify") || name.endsWith(".handoff")) {
          leftovers.add(name + " (a spawn in progress, or one whose launcher was killed)");
        }
      }
    }
    report("daemons", "info", live + " live of " + listed.size() + " daemon slots");
    report("leftover-files", leftovers.isEmpty() ? "ok" : "warn", leftovers.isEmpty() ? "none"
        : String.join(", ", leftovers) + "; launchers remove these on their next spawn of the service");
    report("file-modes", open.isEmpty() ? "ok" : "warn", open.isEmpty() ? "every file is owner-only"
        : "group or others have access to " + String.join(", ", open) + " (the directory's mode keeps them out)");
  }

  /** The service part or slot of a runtime file's name: {@code s} or {@code s~id} before the first dot. */
  private static String prefixOf(String name) {
    int dot = name.indexOf('.');
    return dot > 0 ? name.substring(0, dot) : null;
  }

  /** Each slot's longest socket path, and how long a service name still fits, against sun_path. */
  private void pathLengths(Path dir, List<ListedDaemon> listed) {
    int dirBytes = (dir.toString() + "/").getBytes(StandardCharsets.UTF_8).length;
    int max = Endpoint.LINUX_MAX_PATH_BYTES;
    int longestName = max - dirBytes - LONGEST_SOCKET_SUFFIX.length() - KEY_PART;
    String level = longestName < 8 ? "problem" : longestName < 16 ? "warn" : "ok";
    report("socket-paths", level, "sockets in " + dir + " may be " + max + " bytes long; the directory takes "
        + dirBytes + ", so service names up to " + Math.max(0, longestName) + " bytes fit, side-by-side daemons"
        + " included" + (level.equals("ok") ? "" : ": choose a shorter runtime directory"));
    for (ListedDaemon d : listed) {
      int bytes = dir.resolve(d.slot() + LONGEST_SOCKET_SUFFIX).toString().getBytes(StandardCharsets.UTF_8).length;
      int beside = d.compatibilityId().isPresent() ? bytes : bytes + KEY_PART;
      if (beside > max) {
        report("socket-paths", bytes > max ? "problem" : "warn", d.slot() + ": its longest socket path would be "
            + beside + " bytes" + (d.compatibilityId().isPresent() ? "" : " for a daemon beside it") + ", above " + max);
      }
    }
  }

  /** Live daemons of one service in both the XDG directory and the fallback one. */
  private void bothDirectories(Path xdgDir, Path fallback) {
    Map<String, List<Long>> inXdg = xdgDir == null ? Map.of() : live(xdgDir);
    Map<String, List<Long>> inFallback = live(fallback);
    List<String> both = new ArrayList<>();
    for (String s : new TreeSet<>(inXdg.keySet())) {
      if (inFallback.containsKey(s)) {
        both.add(s + " (pids " + inXdg.get(s) + " in " + xdgDir + ", " + inFallback.get(s) + " in " + fallback + ")");
      }
    }
    if (!both.isEmpty()) {
      report("two-directories", "problem", "daemons of one service run in both runtime directories, each with its own"
          + " files and state: " + String.join("; ", both) + "; stop one (fastbind --runtime-dir DIR stop SERVICE)"
          + " and start launchers with the same XDG_RUNTIME_DIR");
    } else {
      report("two-directories", "ok", "no service has daemons in both " + (xdgDir == null ? "(no XDG directory)"
          : xdgDir) + " and " + fallback);
    }
  }

  private Map<String, List<Long>> live(Path dir) {
    Map<String, List<Long>> m = new LinkedHashMap<>();
    try {
      for (ListedDaemon d : root.broker.list(dir)) {
        if (d.pid().isPresent() && !(d.status() instanceof ServiceStatus.Untrusted)) {
          m.computeIfAbsent(d.service(), k -> new ArrayList<>()).add(d.pid().getAsLong());
        }
      }
    } catch (IOException | RuntimeException e) {
      if (!dir.equals(root.directory())) {
        report("two-directories", "warn", "cannot list " + dir + ": " + e.getMessage());
      }
    }
    return m;
  }

  /** Whether systemd runs the machine and this user's session: what a systemd-managed daemon would need. */
  private void systemd(String xdg) {
    boolean booted = Files.isDirectory(Path.of("/run/systemd/system"));
    boolean userManager = xdg != null && !xdg.isEmpty() && Files.exists(Path.of(xdg, "systemd", "private"));
    report("systemd", "info", (booted ? "systemd is the init system" : "systemd is not the init system (no"
        + " /run/systemd/system)") + "; " + (userManager ? "this user's systemd manager runs"
        : "no systemd user manager found for this session") + "; fastbind itself does not need systemd");
  }

  private static int myUid() throws IOException {
    return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
  }

}
