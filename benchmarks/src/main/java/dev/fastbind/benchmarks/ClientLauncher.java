package dev.fastbind.benchmarks;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonClient;
import dev.fastbind.broker.ServiceDefinition;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

/**
 * A launcher making one client call, as a CLI on the SDK does: a {@link DaemonClient} for the
 * {@link LaunchDaemon} service in the runtime directory {@code args[0]} (its {@code ensureRunning}
 * finds the daemon already up), one 64-byte request, the answer's length printed, exit.
 *
 * <p>Written exactly as {@link RawLauncher}, its floor, except for the SDK calls: the same payload,
 * the same print of an int, no lambda, no method reference and no string concatenation on the path
 * (each costs a fresh JVM its first use: docs/performance.md), so the ratio is the SDK's own cost.
 */
public final class ClientLauncher {

  /** The size of the request; the daemon echoes it. */
  static final int PAYLOAD_BYTES = 64;
  /** {@link ColdStart#JVM_FLAGS} as an array written out, so the launcher loads no harness class. */
  static final String[] JVM_FLAGS = {"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"};

  private ClientLauncher() {}

  /** One call, then prints the answer's length. */
  public static void main(String[] args) throws IOException {
    byte[] payload = new byte[PAYLOAD_BYTES];
    Arrays.fill(payload, (byte) 'p');
    byte[] answer;
    try (DaemonClient client = DaemonClient.create(Broker.create(), definition(Path.of(args[0]), true))) {
      answer = client.call(payload);
    }
    System.out.println(answer.length);
  }

  /**
   * The {@link LaunchDaemon} service in {@code dir}, with or without the broker's class-data sharing
   * archive for the daemon; the harness spawns the daemon with the same definition.
   */
  static ServiceDefinition definition(Path dir, boolean sharing) {
    return ServiceDefinition.builder(sharing ? "bench-client" : "bench-client-plain")
        .javaMain("dev.fastbind.benchmarks.LaunchDaemon", "--lifetime=120")
        .javaOptions(JVM_FLAGS)
        .classDataSharing(sharing)
        .runtimeDirectory(dir)
        // a figure, not a verdict: on a loaded 2-core machine a spawn may pass the 500 ms default
        .probeBudget(Duration.ofSeconds(10))
        .build();
  }
}
