package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.Bootstrap;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.broker.ServiceDefinition;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Starts a daemon detached from the launcher: in a session of its own, stdin from {@code /dev/null},
 * stdout and stderr appended to the service's log, working directory the runtime directory (so the
 * daemon never pins the launcher's directory), and the {@code FASTBIND_*} variables set.
 *
 * <p>On Linux the command is prefixed with util-linux's {@code setsid}. A {@link ProcessBuilder}
 * child is not a process-group leader, so {@code setsid} calls {@code setsid(2)} and then
 * {@code exec}s the daemon in place: the pid the broker sees is the daemon's, and it leads its own
 * session and process group. ({@code setsid -f} would fork and lose that pid, so it is never used.)
 * Ctrl-C in the launcher's terminal signals the launcher's foreground group, which no longer contains
 * the daemon, and the daemon has no controlling terminal to lose.
 */
public final class Spawner {
  private Spawner() {}

  private static final String[] SETSID = {"/usr/bin/setsid", "/bin/setsid"};

  /** Whether the spawned process leads its own process group (true where {@code setsid} was used). */
  public static boolean detaches() {
    return setsid() != null;
  }

  /**
   * The full command line for {@code def}, {@code setsid} included; {@code sharing} are the
   * class-data sharing options for a Java main class, put before the definition's own JVM options.
   */
  public static List<String> commandLine(ServiceDefinition def, SharedArchive.Plan sharing) {
    List<String> cmd = new ArrayList<>();
    String setsid = setsid();
    if (setsid != null) {
      cmd.add(setsid);
    }
    if (def.javaMainClass().isPresent()) {
      cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      if (Runtime.version().feature() >= 22) {
        // junixsocket (the hand-off, peer credentials) loads a native library: allowed without the
        // four-line warning that JDK 24+ would otherwise print into every daemon log.
        cmd.add("--enable-native-access=ALL-UNNAMED");
      }
      cmd.addAll(sharing.options());
      cmd.addAll(def.javaOptions());
      cmd.add("-cp");
      cmd.add(absoluteClassPath(System.getProperty("java.class.path", "")));
      cmd.add(def.javaMainClass().get());
      cmd.addAll(def.arguments());
    } else {
      cmd.addAll(def.command());
    }
    return cmd;
  }

  /** Starts the daemon of {@code def}; its output is appended to {@code paths.log()}. */
  public static Process spawn(ServiceDefinition def, ServiceLayout paths, Path notifySocket, SharedArchive.Plan sharing)
      throws IOException {
    return spawn(def, paths, notifySocket, sharing, Map.of());
  }

  /** {@link #spawn(ServiceDefinition, ServiceLayout, Path, SharedArchive.Plan)} with {@code extra} variables set last. */
  public static Process spawn(ServiceDefinition def, ServiceLayout paths, Path notifySocket, SharedArchive.Plan sharing,
      Map<String, String> extra) throws IOException {
    return spawn(def, paths, notifySocket, sharing, extra, false);
  }

  /**
   * {@link #spawn(ServiceDefinition, ServiceLayout, Path, SharedArchive.Plan, Map)}; with
   * {@code ownerPipe}, the child's standard input is a pipe from this JVM instead of
   * {@code /dev/null}, which this JVM never writes to: its end of file tells a private worker that its
   * owner is gone (see {@code Env.OWNER}).
   */
  public static Process spawn(ServiceDefinition def, ServiceLayout paths, Path notifySocket, SharedArchive.Plan sharing,
      Map<String, String> extra, boolean ownerPipe) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(commandLine(def, sharing));
    Path workDir = def.workingDirectory().orElse(paths.directory());
    if (!java.nio.file.Files.isDirectory(workDir)) {
      throw new java.io.IOException("daemon '" + def.name() + "': the working directory " + workDir
          + " is not an existing directory: create it or fix ServiceDefinition.workingDirectory");
    }
    pb.directory(workDir.toFile());
    Map<String, String> env = pb.environment();
    env.keySet().removeIf(k -> k.startsWith("FASTBIND_"));
    env.putAll(def.environment());
    env.put(Env.SERVICE, def.name());
    env.put(Env.RUNTIME_DIR, paths.directory().toString());
    env.put(Env.ENDPOINT, paths.endpoint().toString());
    env.put(Env.CONTROL_ENDPOINT, paths.controlEndpoint().toString());
    env.put(Env.LOCKFILE, paths.lockfile().toString());
    env.put(Env.NOTIFY_SOCKET, notifySocket.toString());
    String compatibility = DefinitionAccess.compatibility(def);
    if (!compatibility.isEmpty()) {
      env.put(Env.COMPATIBILITY, compatibility);
    }
    env.put(Env.LOG_LIMIT, def.logLimitBytes() + ":" + def.logGenerations());
    env.putAll(extra);
    pb.redirectInput(ownerPipe ? ProcessBuilder.Redirect.PIPE : ProcessBuilder.Redirect.from(new File("/dev/null")));
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(paths.log().toFile()));
    pb.redirectErrorStream(true);
    Process p = pb.start();
    Deaths.spawned(p);
    return p;
  }

  /** {@code cp} with every entry made absolute: what a spawned daemon gets, and the compatibility key holds. */
  public static String absoluteClassPath(String cp) {
    List<String> out = new ArrayList<>();
    for (String entry : cp.split(File.pathSeparator)) {
      if (!entry.isEmpty()) {
        out.add(Path.of(entry).toAbsolutePath().toString());
      }
    }
    return String.join(File.pathSeparator, out);
  }

  private static String setsid() {
    if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")) {
      return null;
    }
    for (String s : SETSID) {
      if (Files.isExecutable(Path.of(s))) {
        return s;
      }
    }
    return null;
  }
}
