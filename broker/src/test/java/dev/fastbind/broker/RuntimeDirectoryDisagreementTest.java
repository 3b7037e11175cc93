package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two launchers that disagree about {@code XDG_RUNTIME_DIR} use different default runtime directories;
 * the second one's spawn says that a daemon of the service already runs in the other.
 */
class RuntimeDirectoryDisagreementTest {

  @TempDir Path tmp;

  private final List<Process> launchers = new ArrayList<>();

  @AfterEach
  void cleanUp() throws Exception {
    for (Process p : launchers) {
      Cleanup.killTree(p);
    }
    Fixtures.killMarked(tmp.resolve("mark"));
  }

  private String launch(String xdg) throws Exception {
    List<String> cmd = JavaCommand.of(TestLauncher.class).light()
        .jvmOptions(List.of("-Dfastbind.test.default-dir=true", "-Djava.io.tmpdir=" + tmp.resolve("t")))
        .args(tmp.resolve("mark").toString(), "svc", "20000").build();
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().remove("XDG_RUNTIME_DIR");
    if (xdg != null) {
      pb.environment().put("XDG_RUNTIME_DIR", xdg);
    }
    Process p = pb.start();
    launchers.add(p);
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  private static long pid(String out) {
    for (String line : out.split("\n")) {
      if (line.startsWith("PID ")) {
        return Long.parseLong(line.split(" ")[1]);
      }
    }
    throw new AssertionError("no PID line: " + out);
  }

  @Test
  void aLauncherWithXdgRuntimeDirSetIsToldOfTheDaemonInTheFallbackDirectory() throws Exception {
    Files.createDirectories(tmp.resolve("t"));
    Path xdg = Files.createDirectories(tmp.resolve("xdg"));
    Files.setPosixFilePermissions(xdg, PosixFilePermissions.fromString("rwx------"));
    String first = launch(null);
    String second = launch(xdg.toString());
    assertNotEquals(pid(first), pid(second), "each directory got its own daemon");
    Path fallback = tmp.resolve("t").resolve("fastbind-" + System.getProperty("user.name"));
    assertTrue(second.contains("another daemon of 'svc' runs in " + fallback + " (pid " + pid(first) + ")"),
        second);
    assertTrue(second.contains("give every launcher the same XDG_RUNTIME_DIR"), second);
  }
}
