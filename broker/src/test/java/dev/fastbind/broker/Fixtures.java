package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The broker tests' own helpers: daemon definitions and their processes in the process table. Waiting,
 * signals, clean-up and JVM command lines come from {@code dev.fastbind.testsupport}.
 */
final class Fixtures {
  private Fixtures() {}

  /** {@link JavaCommand#LIGHT_OPTIONS}, as {@link ServiceDefinition.Builder#javaOptions} takes them. */
  static final String[] LIGHT_JVM = JavaCommand.LIGHT_OPTIONS.toArray(new String[0]);

  /** A generous budget for tests about behaviour rather than speed: a loaded CI machine starts JVMs slowly. */
  static final Duration PATIENT = Duration.ofSeconds(10);

  static String marker(Path dir) {
    return "--marker=" + dir;
  }

  /** A definition running {@link TestDaemon} in {@code mode}, marked with {@code dir}. */
  static ServiceDefinition.Builder daemon(Path dir, String name, String... modeAndArgs) {
    String[] args = Arrays.copyOf(modeAndArgs, modeAndArgs.length + 2);
    args[modeAndArgs.length] = marker(dir);
    args[modeAndArgs.length + 1] = "--lifetime=60";
    return ServiceDefinition.builder(name)
        .javaMain(TestDaemon.class.getName(), args)
        .javaOptions(LIGHT_JVM)
        .runtimeDirectory(dir)
        .probeBudget(PATIENT);
  }

  /** Live processes whose arguments carry {@code dir}'s marker. */
  static List<ProcessHandle> marked(Path dir) {
    String m = marker(dir);
    return ProcessHandle.allProcesses()
        .filter(ProcessHandle::isAlive)
        .filter(h -> h.info().arguments().map(a -> Arrays.asList(a).contains(m)).orElse(false))
        .collect(Collectors.toList());
  }

  /** Kills every marked process of {@code dir} and waits until the process table has none. */
  static void killMarked(Path dir) {
    Cleanup.killAll(marked(dir), Cleanup.DEFAULT_WAIT);
    if (!marked(dir).isEmpty()) {
      fail("marked processes still alive: " + marked(dir));
    }
  }
}
