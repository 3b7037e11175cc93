package dev.fastbind.cli;

import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** Runs the CLI as a real process (its main class on the test class path) and defines test daemons. */
final class CliHarness {
  private CliHarness() {}

  static final Duration PATIENT = Duration.ofSeconds(10);

  /** What a finished CLI process left: its exit code and output. */
  record Result(int code, String out, String err) {
    Map<String, Object> json() {
      return MiniJson.object(out);
    }

    @Override
    public String toString() {
      return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
  }

  /** The command line of the CLI with {@code args}, and extra JVM options before them. */
  static List<String> command(List<String> jvmOptions, String... args) {
    return JavaCommand.of(Fastbind.class).light().jvmOptions(jvmOptions).args(args).build();
  }

  /** Runs the CLI to its end (at most 60 s), with {@code env} changes (a null value removes a variable). */
  static Result run(Path work, Map<String, String> env, List<String> jvmOptions, String... args)
      throws IOException, InterruptedException {
    Path out = Files.createTempFile(work, "cli-out", ".txt");
    Path err = Files.createTempFile(work, "cli-err", ".txt");
    ProcessBuilder pb = new ProcessBuilder(command(jvmOptions, args)).redirectOutput(out.toFile())
        .redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    env.forEach((k, v) -> {
      if (v == null) {
        pb.environment().remove(k);
      } else {
        pb.environment().put(k, v);
      }
    });
    Process p = pb.start();
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        fail("fastbind " + String.join(" ", args) + " did not finish within 60 s");
      }
    } finally {
      Cleanup.killTree(p);
    }
    return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
        Files.readString(err, StandardCharsets.UTF_8));
  }

  static Result run(Path work, String... args) throws IOException, InterruptedException {
    return run(work, Map.of(), List.of(), args);
  }

  static String marker(Path dir) {
    return "--marker=" + dir;
  }

  /** A {@link CliTestDaemon} service in {@code dir}, marked with {@code markerDir}. */
  static ServiceDefinition.Builder daemon(Path dir, Path markerDir, String name, String version) {
    return ServiceDefinition.builder(name)
        .javaMain(CliTestDaemon.class.getName(), version, marker(markerDir), "--lifetime=60")
        .javaOptions(JavaCommand.LIGHT_OPTIONS.toArray(new String[0]))
        .runtimeDirectory(dir)
        .probeBudget(PATIENT);
  }

  static List<ProcessHandle> marked(Path markerDir) {
    String m = marker(markerDir);
    return ProcessHandle.allProcesses()
        .filter(ProcessHandle::isAlive)
        .filter(h -> h.info().arguments().map(a -> Arrays.asList(a).contains(m)).orElse(false))
        .collect(Collectors.toList());
  }

  static void killMarked(Path markerDir) {
    Cleanup.killAll(marked(markerDir), Cleanup.DEFAULT_WAIT);
    if (!marked(markerDir).isEmpty()) {
      fail("marked processes still alive: " + marked(markerDir));
    }
  }

  static List<String> names(Path dir) throws IOException {
    List<String> names = new ArrayList<>();
    try (var s = Files.list(dir)) {
      s.forEach(p -> names.add(p.getFileName().toString()));
    }
    names.sort(null);
    return names;
  }
}
