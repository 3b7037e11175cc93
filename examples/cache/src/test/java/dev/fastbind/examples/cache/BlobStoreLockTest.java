package dev.fastbind.examples.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.testsupport.JavaCommand;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One cache daemon per state directory: a second waits for the first to let go, then gives up naming it. */
class BlobStoreLockTest {
  @TempDir Path tmp;

  @Test
  void aSecondStoreOfTheSameDirectoryWaitsForTheFirstAndNamesItWhenItGivesUp() throws Exception {
    Path state = tmp.resolve("state");
    Process holder = JavaCommand.of(HoldStore.class).light().args(state.toString()).processBuilder()
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
      assertEquals("held", out.readLine(), "the other process opened the store");
      List<String> phases = new ArrayList<>();
      IOException busy = assertThrows(IOException.class,
          () -> BlobStore.open(state, Duration.ZERO, (p, phase) -> phases.add(phase), Duration.ofMillis(300)));
      assertTrue(busy.getMessage().contains("is in use by another cache daemon (pid " + holder.pid() + ")"),
          busy.getMessage());
      assertTrue(busy.getMessage().contains("CACHECTL_STATE_DIR"), "and says what to do: " + busy.getMessage());
      assertTrue(!phases.isEmpty() && phases.get(0).contains("waiting for the cache daemon pid " + holder.pid()),
          "the wait is reported as warm-up progress: " + phases);

      holder.getOutputStream().close(); // the holder closes its store and exits
      try (BlobStore mine = BlobStore.open(state, Duration.ZERO, (p, phase) -> { }, Duration.ofSeconds(20))) {
        assertTrue(holder.waitFor(20, TimeUnit.SECONDS), "the holder exited");
      }
    } finally {
      holder.destroyForcibly();
      holder.waitFor(20, TimeUnit.SECONDS);
    }
  }
}
