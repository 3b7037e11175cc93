package dev.fastbind.broker;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

/**
 * A launcher for the class-data sharing tests: {@code <runtime-dir> <service> <on|off> [jvm-options...]}.
 * Calls {@link Broker#ensureRunning} for a {@link TestDaemon} in {@code good} mode with
 * {@link ServiceDefinition.Builder#classDataSharing} on or off and the light JVM options plus the
 * given ones, prints {@code PID <pid>} and exits; exits 2 with the error on failure. Run it on a class
 * path of jars only: the broker starts the daemon on the launcher's class path, and only jars can be
 * archived.
 */
public final class ArchiveLauncher {
  private ArchiveLauncher() {}

  public static void main(String[] args) throws Exception {
    String[] options = Arrays.copyOf(Fixtures.LIGHT_JVM, Fixtures.LIGHT_JVM.length + args.length - 3);
    System.arraycopy(args, 3, options, Fixtures.LIGHT_JVM.length, args.length - 3);
    ServiceDefinition def = Fixtures.daemon(Path.of(args[0]), args[1], "good")
        .classDataSharing(args[2].equals("on"))
        .javaOptions(options)
        // the tests spawn and stop on purpose, several times within seconds: not a crash loop
        .crashLoopLimit(1000, Duration.ofSeconds(1))
        .build();
    try {
      DaemonInfo info = Broker.create().ensureRunning(def);
      System.out.println("PID " + info.pid());
    } catch (java.io.IOException e) {
      System.err.println(e.getMessage());
      System.exit(2);
    }
  }
}
