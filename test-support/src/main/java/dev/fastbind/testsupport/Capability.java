package dev.fastbind.testsupport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * An optional tool or privilege some tests need, with the Debian package that provides it. Tests ask
 * for one with {@link RequiresCapability}, and run the tool by the path {@link #executable()} found,
 * never by a path written into the test.
 *
 * <p>A program is looked for where Debian installs it ({@code /usr/bin}, {@code /bin},
 * {@code /usr/sbin}, {@code /sbin}), not on {@code PATH}: tests run these tools as other users
 * ({@code runuser -u nobody}), for whom a developer's shims (pyenv, asdf) in a home directory are
 * not executable, and a missing tool is reported with the Debian package that provides it. The
 * look-up is done once per JVM.
 */
public enum Capability {
  /** socat, a client that can connect to an abstract socket name as another user. */
  SOCAT("socat", "socat"),
  /** systemd's socket-activation test tool: binds, then execs the daemon with {@code LISTEN_FDS}. */
  SYSTEMD_SOCKET_ACTIVATE("systemd-socket-activate", "systemd"),
  /** runuser, to run a client as another user (it needs {@link #ROOT} too). */
  RUNUSER("runuser", "util-linux"),
  /** A C compiler. */
  CC("cc", "gcc"),
  /** prlimit, to change a running process's limits. */
  PRLIMIT("prlimit", "util-linux"),
  /** python3, for clients the JDK cannot write (a bind without listen, a raw flood). */
  PYTHON3("python3", "python3"),
  /** mkfifo, to make named pipes where a regular file is expected. */
  MKFIFO("mkfifo", "coreutils"),
  /** A POSIX shell. */
  SH("sh", "dash"),
  /** bash, for scripts the SDK ships (fastbind-java). */
  BASH("bash", "bash"),
  /** sleep, a harmless process to look at or signal. */
  SLEEP("sleep", "coreutils"),
  /** setsid, to start a process that leads its own session and process group. */
  SETSID("setsid", "util-linux"),
  /** The test JVM runs as root (uid 0), for tests that act as another user. */
  ROOT(null, null);

  /** Where Debian installs programs; {@code PATH} is not searched (see the type's comment). */
  private static final List<String> SYSTEM_DIRECTORIES = List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin");

  private final String program;
  private final String debianPackage;
  private volatile Optional<Path> found;

  Capability(String program, String debianPackage) {
    this.program = program;
    this.debianPackage = debianPackage;
  }

  /** Whether this JVM has the capability. */
  public boolean isAvailable() {
    return this == ROOT ? isRoot() : executableIfPresent().isPresent();
  }

  /** The program's path; throws {@link IllegalStateException} for {@link #ROOT} or when it is missing. */
  public Path executable() {
    return executableIfPresent().orElseThrow(() -> new IllegalStateException(missing()));
  }

  /** The program's path, if it is installed; always empty for {@link #ROOT}. */
  public Optional<Path> executableIfPresent() {
    if (program == null) {
      return Optional.empty();
    }
    Optional<Path> f = found;
    if (f == null) {
      found = f = look(program);
    }
    return f;
  }

  /** Why a test needing this is skipped: what is missing and how to get it. */
  public String missing() {
    if (this == ROOT) {
      return "needs root (uid 0) to act as another user; runs as uid " + uid().orElse("?");
    }
    return "needs " + program + " (Debian package " + debianPackage + "), not found in " + String.join(", ", SYSTEM_DIRECTORIES);
  }

  private static Optional<Path> look(String program) {
    for (String d : SYSTEM_DIRECTORIES) {
      Path p = Path.of(d, program);
      if (Files.isRegularFile(p) && Files.isExecutable(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  private static boolean isRoot() {
    return uid().map("0"::equals).orElse(false);
  }

  private static Optional<String> uid() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("Uid:")) {
          return Optional.of(line.substring(4).trim().split("\\s+")[1]); // real, effective, ...: the effective
        }
      }
    } catch (IOException e) {
      return Optional.empty();
    }
    return Optional.empty();
  }
}
