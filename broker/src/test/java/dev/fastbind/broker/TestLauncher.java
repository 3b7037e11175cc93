package dev.fastbind.broker;

import java.nio.file.Path;
import java.time.Duration;

/**
 * A launcher for process tests: {@code <runtime-dir> <service> <budget-ms> [linger-ms]}. Calls
 * {@link Broker#ensureRunning} for a {@link TestDaemon} in {@code good} mode, prints
 * {@code PID <pid> <spawn reason or REUSED>} and, with a linger time, waits that long before exiting
 * (a bounded lifetime, so a test can signal it while it runs). Exits 2 with the error on failure.
 * {@code -Dfastbind.test.mode=hang} starts the daemon in another {@link TestDaemon} mode;
 * {@code -Dfastbind.test.handoff=true} turns on the listener hand-off; {@code -Dfastbind.test.status=true}
 * prints {@code STATUS <type> [<pid> <stage>]} from {@link Broker#status} instead;
 * {@code -Dfastbind.test.default-dir=true} leaves the runtime directory to the broker's default;
 * {@code -Dfastbind.test.keep-alive=N} keeps the daemon alive with N restarts a minute (the linger
 * time is then how long this launcher watches it).
 */
public final class TestLauncher {
  private TestLauncher() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    ServiceDefinition def = Fixtures.daemon(dir, args[1], System.getProperty("fastbind.test.mode", "good"))
        .probeBudget(Duration.ofMillis(Long.parseLong(args[2])))
        .listenerHandoff(Boolean.getBoolean("fastbind.test.handoff"))
        .build();
    int keepAlive = Integer.getInteger("fastbind.test.keep-alive", -1);
    if (keepAlive >= 0) {
      def = Fixtures.daemon(dir, args[1], System.getProperty("fastbind.test.mode", "good"))
          .probeBudget(Duration.ofMillis(Long.parseLong(args[2])))
          .keepAlive(Supervision.oneForOne(keepAlive, Duration.ofMinutes(1)))
          .build();
    }
    if (Boolean.getBoolean("fastbind.test.default-dir")) {
      // The same definition without its runtime directory: the broker's default decides (the
      // directory argument still marks the daemon for the test's clean-up).
      def = ServiceDefinition.builder(def.name()).javaMain(def.javaMainClass().orElseThrow(),
          def.arguments().toArray(new String[0])).javaOptions(def.javaOptions().toArray(new String[0]))
          .probeBudget(def.probeBudget()).build();
    }
    if (Boolean.getBoolean("fastbind.test.status")) {
      ServiceStatus status = Broker.create().status(def);
      System.out.println("STATUS " + status.getClass().getSimpleName() + (status instanceof ServiceStatus.Running r
          ? " " + r.daemon().pid() + " " + r.daemon().stage() : " " + status));
      return;
    }
    try {
      DaemonInfo info = Broker.create().ensureRunning(def);
      System.out.println("PID " + info.pid() + " " + info.spawnReason().map(Enum::name).orElse("REUSED"));
      System.out.println("DETAIL " + info.spawnDetail());
      System.out.flush();
    } catch (java.io.IOException e) {
      System.err.println(e.getMessage());
      System.exit(2);
    }
    if (args.length > 3) {
      Thread.sleep(Long.parseLong(args[3]));
    }
  }
}
