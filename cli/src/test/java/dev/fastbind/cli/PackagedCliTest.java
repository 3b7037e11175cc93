package dev.fastbind.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.testsupport.Cleanup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI as shipped: {@code cli/bin/fastbind} running the shaded jar with {@code java -jar}, found
 * through {@code JAVA_HOME} or {@code PATH}. Runs in the package phase, once the jar is built.
 */
class PackagedCliTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  @AfterEach
  void noProcessLeft() {
    CliHarness.killMarked(tmp);
  }

  private static Path script() {
    return Path.of(System.getProperty("fastbind.cli.script", "bin/fastbind"));
  }

  private CliHarness.Result sh(Map<String, String> env, String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of("/bin/sh", script().toString()));
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile(tmp, "out", ".txt");
    Path err = Files.createTempFile(tmp, "err", ".txt");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
    pb.environment().remove("JAVA_HOME");
    pb.environment().remove("FASTBIND_CLI_JAR");
    pb.environment().put("FASTBIND_CLI_JAR", System.getProperty("fastbind.cli.jar", ""));
    pb.environment().putAll(env);
    Process p = pb.start();
    try {
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher script finished within 60 s");
    } finally {
      Cleanup.killTree(p);
    }
    return new CliHarness.Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
        Files.readString(err, StandardCharsets.UTF_8));
  }

  @Test
  void theLauncherScriptRunsTheShadedJarWithJavaHomeAndListsARealDaemon() throws Exception {
    Path dir = tmp.resolve("rt");
    DaemonInfo d = broker.ensureRunning(CliHarness.daemon(dir, tmp, "alpha", "3.0").build());

    CliHarness.Result r = sh(Map.of("JAVA_HOME", System.getProperty("java.home")),
        "--runtime-dir", dir.toString(), "list", "--json");

    assertEquals(0, r.code(), r::toString);
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> daemons = (List<Map<String, Object>>) r.json().get("daemons");
    assertEquals(d.pid(), daemons.get(0).get("pid"));
    assertEquals("ready", daemons.get(0).get("state"));
  }

  @Test
  void withoutJavaHomeTheScriptFindsJavaOnPathAndTheJarKnowsItsVersion() throws Exception {
    String path = Path.of(System.getProperty("java.home"), "bin") + ":/usr/bin:/bin";
    CliHarness.Result r = sh(Map.of("PATH", path), "--version");
    assertEquals(0, r.code(), r::toString);
    assertTrue(r.out().matches("fastbind \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\\n"), r::toString);
  }

  @Test
  void withNoJavaAtAllTheScriptSaysHowToFixIt() throws Exception {
    CliHarness.Result r = sh(Map.of("PATH", "/nonexistent", "JAVA_HOME", "/nonexistent"), "list");
    assertEquals(4, r.code(), r::toString);
    assertTrue(r.err().contains("set JAVA_HOME or put java"), r::toString);
  }
}
