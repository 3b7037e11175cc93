package dev.fastbind.backend.testing;

import java.io.IOException;

/**
 * {@link EchoDaemon} behind a starting gate: prints {@code armed} once its JVM is up, then waits for
 * one byte on standard input before running the bootstrap, so a test can release many daemons at
 * the same moment. An end of input (the test died) exits without starting.
 */
public final class RacingEchoDaemon {
  private RacingEchoDaemon() {}

  public static void main(String[] args) throws IOException {
    System.out.println("armed");
    System.out.flush();
    if (System.in.read() < 0) {
      System.exit(2);
    }
    EchoDaemon.main(args);
  }
}
