package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.backend.testing.DaemonProcess;
import dev.fastbind.backend.testing.EchoDaemon;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.RequiresCapability;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every failure of {@code Daemon.builder(…).run} before {@code serve}, in a real daemon process: one
 * line on stderr that starts with {@code fastbind: SERVICE:}, names the object at fault, and the
 * documented exit status; no stack trace, no second misleading line, nothing created on the way.
 */
class StartupErrorsTest {

  private static final Duration START = Duration.ofSeconds(20);

  @TempDir Path runtime;
  @TempDir Path elsewhere;

  @Test
  void lockfileInAMissingDirectoryIsAOneLineUsageErrorAndNoDirectoryIsCreated() throws Exception {
    Path missing = elsewhere.resolve("no").resolve("such");
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime,
        Map.of("FASTBIND_LOCKFILE", missing.resolve("echo.lock").toString()))) {
      assertEquals(Daemon.EXIT_USAGE, daemon.awaitExit(START), daemon.log());
      String line = onlyLine(daemon.log(), "echo");
      assertTrue(line.contains("the directory " + missing + " of the lockfile") && line.contains("mkdir"), line);
      assertFalse(Files.exists(elsewhere.resolve("no")), "the daemon created " + elsewhere.resolve("no"));
      assertFalse(Files.exists(runtime.resolve("echo.sock")), "nothing was bound");
    }
  }

  @Test
  void endpointInAMissingDirectoryIsAOneLineUsageError() throws Exception {
    Path missing = elsewhere.resolve("gone");
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime,
        Map.of("FASTBIND_ENDPOINT", "unix:" + missing.resolve("echo.sock")))) {
      assertEquals(Daemon.EXIT_USAGE, daemon.awaitExit(START), daemon.log());
      assertTrue(onlyLine(daemon.log(), "echo").contains("the directory " + missing + " of the endpoint"));
      assertFalse(Files.exists(missing));
    }
  }

  @Test
  void invalidServiceNameIsOneLineAndExit64WithoutAStackTrace() throws Exception {
    try (DaemonProcess daemon = DaemonProcess.start(runtime, Map.of(),
        JavaCommand.of(EchoDaemon.class).light().jvmOptions("-Dfastbind.test.service=Not_Valid").build(),
        ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))) {
      assertEquals(Daemon.EXIT_USAGE, daemon.awaitExit(START), daemon.log());
      String line = onlyLine(daemon.log(), "Not_Valid");
      assertTrue(line.contains("invalid service name 'Not_Valid'"), line);
    }
  }

  @Test
  void directoryAtTheLockfilePathGivesOneLineNamingTheLockfile() throws Exception {
    Files.createDirectory(runtime.resolve("echo.lock"));
    try (DaemonProcess daemon = DaemonProcess.startEcho(runtime, Map.of())) {
      assertEquals(Daemon.EXIT_CANNOT_CREATE, daemon.awaitExit(START), daemon.log());
      String line = onlyLine(daemon.log(), "echo");
      assertTrue(line.contains("cannot write the lockfile " + runtime.resolve("echo.lock")), line);
    }
  }

  @Test
  @RequiresCapability(Capability.SH)
  void inheritedDescriptorThatIsNotASocketIsDescribedPlainly() throws Exception {
    // sh opens /dev/null as descriptor 3 and becomes the JVM, so LISTEN_PID=$$ names the daemon.
    List<String> java = JavaCommand.of(EchoDaemon.class).light().build();
    String command = "exec 3</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec " + java.stream()
        .map(a -> "'" + a.replace("'", "'\\''") + "'").collect(Collectors.joining(" "));
    try (DaemonProcess daemon = DaemonProcess.start(runtime, Map.of(), List.of(Capability.SH.executable().toString(), "-c", command),
        ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))) {
      Readiness.Message failed = daemon.awaitNotification(START);
      assertEquals(Readiness.Kind.FAILED, failed.kind());
      assertEquals(Daemon.EXIT_USAGE, daemon.awaitExit(START), daemon.log());
      String line = onlyLine(daemon.log(), "echo");
      assertTrue(line.contains("inherited descriptor 3") && line.contains("the file /dev/null")
          && line.contains("ListenStream="), line);
      assertFalse(line.contains("java.lang"), "no list of Java types: " + line);
    }
  }

  @Test
  void overLongSocketPathNamesTheDaemonsOwnSocket() throws Exception {
    Path deep = runtime;
    while (deep.toString().length() < 110) {
      deep = deep.resolve("d");
    }
    Files.createDirectories(deep);
    try (DaemonProcess daemon = DaemonProcess.startEcho(deep, Map.of())) {
      assertEquals(Daemon.EXIT_USAGE, daemon.awaitExit(START), daemon.log());
      String line = onlyLine(daemon.log(), "echo");
      assertTrue(line.contains(deep.resolve("echo.sock").toString()) && line.contains("at most 107"), line);
      assertFalse(line.contains("notify"), line);
    }
  }

  /** The log's single line, which must start with {@code fastbind: SERVICE: }. */
  private static String onlyLine(String log, String service) {
    List<String> lines = new ArrayList<>(log.lines().filter(l -> !l.isBlank()).toList());
    assertEquals(1, lines.size(), "exactly one line:\n" + log);
    assertTrue(lines.get(0).startsWith("fastbind: " + service + ": "), lines.get(0));
    return lines.get(0);
  }
}
