package dev.fastbind.benchmarks;

/**
 * The bare JVM start the cold-start figures are divided by: a main that prints one line and exits.
 * Started by the harness with the same JDK, flags and class path as the launcher and the daemon.
 */
public final class Hello {

  private Hello() {}

  /** Prints {@code hello}. */
  public static void main(String[] args) {
    System.out.println("hello");
  }
}
