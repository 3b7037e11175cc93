package dev.fastbind.examples.hello;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import dev.fastbind.broker.StopResult;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;

/**
 * A launcher CLI for {@link HelloBackend}: what a build tool's command-line front end does on every
 * invocation.
 *
 * <pre>
 * HelloLauncher demo        cold start, hot reuse, a request, status, stop — with timings
 * HelloLauncher ask NAME    make sure the daemon runs, send it one request
 * HelloLauncher status      what the broker sees, without starting anything
 * HelloLauncher stop        stop the daemon (SHUTDOWN, then SIGTERM, then SIGKILL)
 * </pre>
 *
 * <p>The system property {@code hello.runtime-dir} overrides the runtime directory (tests use it).
 *
 * <p>The daemon is this same class path started with {@code HelloBackend} as the main class, so
 * launcher and daemon ship as one jar.
 */
public final class HelloLauncher {

  private HelloLauncher() {}

  /** The service definition every command uses. */
  static ServiceDefinition definition() {
    String runtimeDir = System.getProperty("hello.runtime-dir");
    return definition(runtimeDir == null ? null : java.nio.file.Path.of(runtimeDir));
  }

  /** The definition with an explicit runtime directory, or the broker's default when null. */
  static ServiceDefinition definition(java.nio.file.Path runtimeDir) {
    ServiceDefinition.Builder builder = ServiceDefinition.builder(HelloBackend.SERVICE);
    if (runtimeDir != null) {
      builder.runtimeDirectory(runtimeDir);
    }
    return builder
        .javaMain(HelloBackend.class.getName())
        .javaOptions("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")
        .version(HelloBackend.VERSION)
        .build();
  }

  /** Entry point; exits non-zero with a message on stderr when a command fails. */
  public static void main(String[] args) {
    String command = args.length == 0 ? "demo" : args[0];
    Broker broker = Broker.create();
    ServiceDefinition hello = definition();
    try {
      switch (command) {
        case "demo" -> demo(broker, hello);
        case "ask" -> System.out.println(ask(broker.ensureRunning(hello),
            args.length > 1 ? String.join(" ", Arrays.asList(args).subList(1, args.length)) : "world"));
        case "status" -> System.out.println(describe(broker.status(hello)));
        case "stop" -> System.out.println("stop: " + broker.stop(hello));
        default -> {
          System.err.println("usage: HelloLauncher [demo | ask NAME | status | stop]");
          System.exit(64);
        }
      }
    } catch (IOException e) {
      System.err.println("hello: " + e.getMessage());
      System.exit(1);
    }
  }

  private static void demo(Broker broker, ServiceDefinition hello) throws IOException {
    StopResult before = broker.stop(hello);
    System.out.println("0. clean slate ........ " + before);

    DaemonInfo cold = broker.ensureRunning(hello);
    System.out.printf(Locale.ROOT, "1. cold start ......... %s: daemon pid %d ready at %s (spawned: %s)%n",
        millis(cold.elapsed()), cold.pid(), cold.endpoint(),
        cold.spawnReason().map(Enum::name).orElse("no"));

    System.out.println("2. status (warming) ... " + describe(broker.status(hello)));

    DaemonInfo hot = broker.ensureRunning(hello);
    System.out.printf(Locale.ROOT, "3. hot reuse .......... %s: same pid %d, spawned: %s%n",
        millis(hot.elapsed()), hot.pid(), hot.spawned() ? "yes" : "no");

    System.out.println("4. request ............ " + ask(hot, "demo"));
    System.out.println("5. status ............. " + describe(broker.status(hello)));
    System.out.println("6. stop ............... " + broker.stop(hello));
    System.out.println("7. status ............. " + describe(broker.status(hello)));
  }

  /** Sends one line to the daemon and returns its answer (waits while the daemon warms up). */
  static String ask(DaemonInfo daemon, String name) throws IOException {
    try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(daemon.endpoint().path().orElseThrow()));
        PrintWriter out = new PrintWriter(Channels.newOutputStream(channel), true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel),
            StandardCharsets.UTF_8))) {
      out.println(name);
      String answer = in.readLine();
      return answer == null ? "(the daemon closed the connection)" : answer;
    }
  }

  static String describe(ServiceStatus status) {
    if (status instanceof ServiceStatus.Running r) {
      return (r.ready() ? "READY" : "WARMING " + r.progressPercent() + "%" + r.phase().map(p -> " (" + p + ")").orElse(""))
          + ", pid " + r.daemon().pid() + ", version " + r.daemon().version().orElse("?");
    }
    if (status instanceof ServiceStatus.Unresponsive u) {
      return "UNRESPONSIVE pid " + u.pid() + ": " + u.detail();
    }
    if (status instanceof ServiceStatus.Stale s) {
      return "STALE (" + s.reason() + "): " + s.detail();
    }
    return "ABSENT";
  }

  private static String millis(Duration d) {
    return String.format(Locale.ROOT, "%.1f ms", d.toNanos() / 1e6);
  }
}
