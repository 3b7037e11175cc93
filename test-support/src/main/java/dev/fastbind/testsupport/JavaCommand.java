package dev.fastbind.testsupport;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The command line of a fresh JVM that runs a test's main class: this JVM's {@code java}, the JVM
 * options, {@code -cp}, the main class and its arguments.
 *
 * <pre>{@code
 * List<String> cmd = JavaCommand.of(EchoDaemon.class).light().args("warm-ms=100").build();
 * }</pre>
 *
 * <p>The class path defaults to this JVM's ({@code java.class.path}), so a child JVM sees the test
 * classes. {@link #light()} adds {@link #LIGHT_OPTIONS}, which let many short-lived test JVMs share
 * two cores. A builder is not thread-safe; {@link #build()} returns an immutable copy.
 */
public final class JavaCommand {
  /**
   * JVM options for short-lived test JVMs on a small machine: C1 only, the serial collector, the
   * JDK's class-data archive when it can be mapped, and a 64 MB heap.
   */
  public static final List<String> LIGHT_OPTIONS =
      List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-Xmx64m");

  private final String mainClass;
  private String classPath = System.getProperty("java.class.path", "");
  private final List<String> jvmOptions = new ArrayList<>();
  private final List<String> args = new ArrayList<>();

  private JavaCommand(String mainClass) {
    this.mainClass = requireText(mainClass, "mainClass");
  }

  /** A command that runs {@code mainClass}'s {@code main}. */
  public static JavaCommand of(Class<?> mainClass) {
    return new JavaCommand(Objects.requireNonNull(mainClass, "mainClass").getName());
  }

  /** A command that runs the class named {@code mainClass} (binary name). */
  public static JavaCommand of(String mainClass) {
    return new JavaCommand(mainClass);
  }

  /** The {@code java} launcher of the JVM running the tests. */
  public static Path java() {
    return Path.of(System.getProperty("java.home"), "bin", "java");
  }

  /** Replaces the class path (default: this JVM's). */
  public JavaCommand classPath(String classPath) {
    this.classPath = requireText(classPath, "classPath");
    return this;
  }

  /** Adds {@link #LIGHT_OPTIONS}, before any option added later (a later option wins). */
  public JavaCommand light() {
    jvmOptions.addAll(LIGHT_OPTIONS);
    return this;
  }

  /** Adds JVM options (before {@code -cp}). */
  public JavaCommand jvmOptions(String... options) {
    return jvmOptions(List.of(options));
  }

  /** Adds JVM options (before {@code -cp}). */
  public JavaCommand jvmOptions(List<String> options) {
    for (String o : options) {
      jvmOptions.add(Objects.requireNonNull(o, "a JVM option"));
    }
    return this;
  }

  /** Adds arguments for the main class. */
  public JavaCommand args(String... arguments) {
    return args(List.of(arguments));
  }

  /** Adds arguments for the main class. */
  public JavaCommand args(List<String> arguments) {
    for (String a : arguments) {
      args.add(Objects.requireNonNull(a, "an argument"));
    }
    return this;
  }

  /** The command line, ready for a {@link ProcessBuilder}. */
  public List<String> build() {
    List<String> command = new ArrayList<>();
    command.add(java().toString());
    command.addAll(jvmOptions);
    command.add("-cp");
    command.add(classPath);
    command.add(mainClass);
    command.addAll(args);
    return List.copyOf(command);
  }

  /** A {@link ProcessBuilder} for {@link #build()}. */
  public ProcessBuilder processBuilder() {
    return new ProcessBuilder(build());
  }

  @Override
  public String toString() {
    return String.join(" ", build());
  }

  private static String requireText(String s, String name) {
    Objects.requireNonNull(s, name);
    if (s.isBlank()) {
      throw new IllegalArgumentException(name + " is blank");
    }
    return s;
  }
}
