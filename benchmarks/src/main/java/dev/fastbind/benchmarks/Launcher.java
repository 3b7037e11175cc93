package dev.fastbind.benchmarks;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The smallest launcher: one {@code ensureRunning} for the harness's cold-start service, then exit.
 * What a CLI built on the SDK pays in its own process.
 *
 * <p>Arguments: the runtime directory, then {@code on} or {@code off} for the broker's class-data
 * sharing archive of the daemon; optionally a third, {@code handoff} or {@code plain}, for the
 * answering service of the hand-off comparison with or without the listener hand-off
 * ({@link ColdStart#answering}). Prints
 * {@code spawned <pid>} or {@code reused <pid>} so the race can count daemons.
 */
public final class Launcher {

  private Launcher() {}

  /** Ensures the daemon runs and reports its pid. */
  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args[0]);
    DaemonInfo info = Broker.create().ensureRunning(args.length > 2
        ? ColdStart.answering(dir, args[2].equals("handoff"))
        : ColdStart.definition(dir, args[1].equals("on")));
    // Two prints, not `+`: javac compiles string concatenation to invokedynamic, whose first use in a
    // fresh JVM costs 10-20 ms on JDK 17 (docs/performance.md); a CLI that cares prints like this or
    // compiles with -XDstringConcat=inline.
    System.out.print(info.spawned() ? "spawned " : "reused ");
    System.out.println(info.pid());
    // With the hand-off the call returned before the daemon took the socket: the broker's shutdown
    // hook keeps this JVM until it has (a launcher that printed has done its part for the race).
  }
}
