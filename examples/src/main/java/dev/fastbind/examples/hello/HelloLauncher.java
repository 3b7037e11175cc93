package dev.fastbind.examples.hello;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.CrashLoopException;
import dev.fastbind.broker.DaemonBroker;
import dev.fastbind.broker.DaemonStartException;
import dev.fastbind.broker.DaemonUnresponsiveException;
import dev.fastbind.broker.RuntimeFileException;
import dev.fastbind.broker.SpawnLockTimeoutException;
import dev.fastbind.broker.UntrustedStateException;
import dev.fastbind.broker.VersionMismatchException;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import dev.fastbind.broker.StopResult;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
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
 * HelloLauncher --no-daemon CMD   the same, with the backend inside this JVM (in-process mode)
 * </pre>
 *
 * <p>The commands run in {@link #run}, which takes the {@link DaemonBroker} to use: {@link #main}
 * passes {@link Broker#create()}, tests a scripted or recording one. A failure is one line on stderr
 * naming what went wrong, and an exit status from {@code sysexits.h}: 69 (unavailable) when the
 * daemon did not start or another version runs, 75 (try again later) for a crash loop, an
 * unresponsive daemon or a busy spawn lock, 77 (no permission) for runtime files the broker will not
 * trust or use, 1 for other I/O failures, 64 for a usage error.
 *
 * <p>The system property {@code hello.runtime-dir} overrides the runtime directory (tests use it), and
 * {@code hello.probe-budget-ms} the broker's probe budget, 500 ms by default (a test on a loaded
 * machine gives the cold start more).
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
    return definition(runtimeDir, false);
  }

  /** The definition; with {@code noDaemon} the backend runs inside this JVM instead of a daemon process. */
  static ServiceDefinition definition(java.nio.file.Path runtimeDir, boolean noDaemon) {
    ServiceDefinition.Builder builder = ServiceDefinition.builder(HelloBackend.SERVICE);
    if (runtimeDir != null) {
      builder.runtimeDirectory(runtimeDir);
    }
    if (noDaemon) {
      builder.inProcess(HelloBackend::new);
    }
    Long budget = Long.getLong("hello.probe-budget-ms");
    if (budget != null) {
      builder.probeBudget(Duration.ofMillis(budget));
    }
    return builder
        .javaMain(HelloBackend.class.getName())
        .javaOptions("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")
        .version(HelloBackend.VERSION)
        .build();
  }

  /** Entry point; exits non-zero with a message on stderr when a command fails. */
  public static void main(String[] args) {
    boolean noDaemon = args.length > 0 && args[0].equals("--no-daemon");
    String runtimeDir = System.getProperty("hello.runtime-dir");
    ServiceDefinition hello = definition(runtimeDir == null ? null : java.nio.file.Path.of(runtimeDir), noDaemon);
    int status = run(Broker.create(), hello, noDaemon ? Arrays.copyOfRange(args, 1, args.length) : args, System.out,
        System.err);
    if (status != 0) {
      System.exit(status);
    }
  }

  /**
   * Runs one command with {@code broker}.
   *
   * @return the exit status: 0, or as the class documentation lists
   */
  static int run(DaemonBroker broker, ServiceDefinition hello, String[] args, PrintStream out, PrintStream err) {
    String command = args.length == 0 ? "demo" : args[0];
    try {
      switch (command) {
        case "demo" -> demo(broker, hello, out);
        case "ask" -> out.println(ask(broker.ensureRunning(hello),
            args.length > 1 ? String.join(" ", Arrays.asList(args).subList(1, args.length)) : "world"));
        case "status" -> out.println(describe(broker.status(hello)));
        case "stop" -> out.println("stop: " + broker.stop(hello));
        default -> {
          err.println("usage: HelloLauncher [--no-daemon] [demo | ask NAME | status | stop]");
          return 64;
        }
      }
      return 0;
    } catch (IOException e) {
      return report(e, err);
    }
  }

  /** One line on {@code err} saying what failed, and the exit status for it. */
  static int report(IOException e, PrintStream err) {
    String what;
    int status;
    if (e instanceof DaemonStartException) {
      what = "the daemon did not start";
      status = 69;
    } else if (e instanceof VersionMismatchException) {
      what = "another version of the daemon runs (hello stop ends it)";
      status = 69;
    } else if (e instanceof CrashLoopException c) {
      what = "the daemon keeps crashing; try again in " + Math.max(1, c.retryAfter().toSeconds()) + " s";
      status = 75;
    } else if (e instanceof DaemonUnresponsiveException) {
      what = "the daemon does not answer (hello stop ends it)";
      status = 75;
    } else if (e instanceof SpawnLockTimeoutException) {
      what = "another launcher is starting or stopping the daemon";
      status = 75;
    } else if (e instanceof UntrustedStateException) {
      what = "the runtime files are not the daemon's; nothing was touched";
      status = 77;
    } else if (e instanceof RuntimeFileException) {
      what = "the runtime directory cannot be used";
      status = 77;
    } else {
      what = "I/O failure";
      status = 1;
    }
    err.println("hello: " + what + ": " + e.getMessage());
    return status;
  }

  private static void demo(DaemonBroker broker, ServiceDefinition hello, PrintStream out) throws IOException {
    StopResult before = broker.stop(hello);
    out.println("0. clean slate ........ " + before);

    DaemonInfo cold = broker.ensureRunning(hello);
    out.printf(Locale.ROOT, "1. cold start ......... %s: daemon pid %d ready at %s (spawned: %s)%n",
        millis(cold.elapsed()), cold.pid(), cold.endpoint(),
        cold.spawnReason().map(Enum::name).orElse("no"));

    out.println("2. status (warming) ... " + describe(broker.status(hello)));

    DaemonInfo hot = broker.ensureRunning(hello);
    out.printf(Locale.ROOT, "3. hot reuse .......... %s: same pid %d, spawned: %s%n",
        millis(hot.elapsed()), hot.pid(), hot.spawned() ? "yes" : "no");

    out.println("4. request ............ " + ask(hot, "demo"));
    out.println("5. status ............. " + describe(broker.status(hello)));
    out.println("6. stop ............... " + broker.stop(hello));
    out.println("7. status ............. " + describe(broker.status(hello)));
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
