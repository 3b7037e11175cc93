package dev.fastbind.broker;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * A tiny launcher main for {@link LauncherArchiveScriptTest}, run through {@code fastbind-java}
 * from a jar. It prints each argument in brackets on stdout and "err" on stderr, then, by its first
 * argument: {@code exit=N} exits with status N; {@code stdin} copies stdin to stdout;
 * {@code wait} prints "ready", waits for stdin to close (or a signal; a shutdown hook prints
 * "hook"), and exits by itself after 30 s so that it never outlives a failed test for long.
 */
public final class ArchiveScriptMain {

  private ArchiveScriptMain() {}

  public static void main(String[] args) throws IOException, InterruptedException {
    StringBuilder line = new StringBuilder("main");
    for (String a : args) {
      line.append(" [").append(a).append(']');
    }
    System.out.println(line);
    System.err.println("err");
    String mode = args.length == 0 ? "" : args[0];
    if (mode.startsWith("exit=")) {
      System.out.flush();
      System.exit(Integer.parseInt(mode.substring(5)));
    }
    if (mode.equals("stdin")) {
      System.out.print(new String(System.in.readAllBytes(), StandardCharsets.UTF_8));
    }
    if (mode.equals("wait")) {
      Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("hook")));
      Thread bound = new Thread(() -> {
        try {
          Thread.sleep(30_000);
        } catch (InterruptedException e) {
          return;
        }
        Runtime.getRuntime().halt(99);
      });
      bound.setDaemon(true);
      bound.start();
      System.out.println("ready");
      System.out.flush();
      InputStream in = System.in;
      while (in.read() >= 0) {
        // until stdin closes
      }
    }
  }
}
