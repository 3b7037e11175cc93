package dev.fastbind.examples.cache;

import java.nio.file.Path;
import java.time.Duration;

/**
 * A process that opens the store in {@code args[0]}, says {@code held}, and keeps it until its
 * standard input ends; it halts after a minute at most. Another daemon of the same directory, for
 * {@link BlobStoreLockTest}.
 */
public final class HoldStore {
  private HoldStore() {}

  public static void main(String[] args) throws Exception {
    Thread limit = new Thread(() -> {
      try {
        Thread.sleep(60_000);
      } catch (InterruptedException e) {
        return;
      }
      Runtime.getRuntime().halt(3);
    });
    limit.setDaemon(true);
    limit.start();
    try (BlobStore store = BlobStore.open(Path.of(args[0]), Duration.ZERO, (p, phase) -> { })) {
      System.out.println("held");
      System.out.flush();
      while (System.in.read() >= 0) {
        // until the test closes our stdin
      }
    }
  }
}
