package dev.fastbind.cli;

import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Cleanup;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/** A {@code fastbind logs -f} process whose stdout and stderr lines are collected as they come. */
final class Follower implements AutoCloseable {
  private final Process process;
  private final StringBuffer out = new StringBuffer();
  private final StringBuffer err = new StringBuffer();

  Follower(Path work, String... args) throws IOException {
    process = new ProcessBuilder(CliHarness.command(List.of(), args)).start();
    pump(process.getInputStream(), out);
    pump(process.getErrorStream(), err);
  }

  private static void pump(InputStream in, StringBuffer into) {
    Thread t = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          into.append(line).append('\n');
        }
      } catch (IOException e) {
        into.append("(read failed: ").append(e.getMessage()).append(")\n");
      }
    }, "follower-pump");
    t.setDaemon(true);
    t.start();
  }

  void await(String line) {
    Await.until(CliHarness.PATIENT, () -> out.indexOf(line + "\n") >= 0,
        () -> "fastbind logs -f never printed '" + line + "'; stdout:\n" + out + "stderr:\n" + err);
  }

  void awaitErr(String text) {
    Await.until(CliHarness.PATIENT, () -> err.indexOf(text) >= 0,
        () -> "fastbind logs -f never said '" + text + "' on stderr; stdout:\n" + out + "stderr:\n" + err);
  }

  @Override
  public void close() {
    // Ctrl-C's stand-in: the follower runs until it is signalled.
    Cleanup.killTree(process);
  }
}
