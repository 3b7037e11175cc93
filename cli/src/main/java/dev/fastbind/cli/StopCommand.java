package dev.fastbind.cli;

import dev.fastbind.broker.ListedDaemon;
import dev.fastbind.broker.RuntimeFileException;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.StopResult;
import dev.fastbind.broker.UntrustedStateException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code fastbind stop SERVICE | --all}: stops a service's daemons (its first one and any beside it),
 * or every daemon in the runtime directory, through {@code Broker.stop}: only processes the kernel
 * confirms as the recorded daemons are asked to shut down or signalled; untrusted state is refused
 * (exit {@value Fastbind#REFUSED}) and left as found.
 */
@Command(name = "stop", description = "Stops a service's daemons, or all of them; verified processes only.")
final class StopCommand implements Callable<Integer> {

  @ParentCommand Fastbind root;

  static final class Which {
    @Parameters(index = "0", paramLabel = "SERVICE", description = "The service whose daemons to stop.")
    String service;

    @Option(names = "--all", required = true, description = "Stop every daemon in the runtime directory.")
    boolean all;
  }

  @ArgGroup(exclusive = true, multiplicity = "1")
  Which which;

  @Option(names = "--grace", paramLabel = "SECONDS", defaultValue = "5",
      description = "Seconds each daemon has to exit before SIGKILL (default ${DEFAULT-VALUE}).")
  double graceSeconds;

  @Override
  public Integer call() throws Exception {
    if (graceSeconds < 0) {
      throw new IllegalArgumentException("--grace must not be negative, got " + graceSeconds);
    }
    Duration grace = Duration.ofMillis(Math.round(graceSeconds * 1000));
    Path dir = root.directory();
    List<ListedDaemon> targets = new ArrayList<>();
    if (which.service != null) {
      ServiceDefinition.checkName(which.service);
    }
    for (ListedDaemon d : root.broker.list(dir)) {
      if (which.all || d.service().equals(which.service)) {
        targets.add(d);
      }
    }
    PrintWriter out = root.spec.commandLine().getOut();
    List<Object> results = new ArrayList<>();
    int code = Fastbind.OK;
    for (ListedDaemon d : targets) {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("service", d.service());
      r.put("slot", d.slot());
      r.put("pid", d.pid());
      String text;
      try {
        StopResult result = root.broker.stop(d, grace);
        r.put("result", result.name());
        text = describe(result);
      } catch (UntrustedStateException | RuntimeFileException e) {
        r.put("result", "REFUSED");
        r.put("detail", e.getMessage());
        text = "refused, nothing was changed: " + e.getMessage();
        code = Fastbind.REFUSED;
      } catch (IOException e) {
        r.put("result", "FAILED");
        r.put("detail", e.getMessage());
        text = "failed: " + e.getMessage();
        code = code == Fastbind.REFUSED ? code : Fastbind.FAILED;
      }
      results.add(r);
      if (!root.json) {
        out.println(d.slot() + (d.pid().isPresent() ? " (pid " + d.pid().getAsLong() + ")" : "") + ": " + text);
      }
    }
    if (targets.isEmpty()) {
      code = which.all ? Fastbind.OK : Fastbind.NOT_RUNNING;
      if (!root.json) {
        out.println(which.all ? "no daemons in " + dir : which.service + ": not running (no lockfile in " + dir + ")");
      }
    }
    if (root.json) {
      Map<String, Object> doc = Fastbind.document("stop");
      doc.put("runtimeDirectory", dir.toString());
      doc.put("service", which.all ? null : which.service);
      doc.put("all", which.all);
      doc.put("results", results);
      doc.put("exit", code);
      out.println(Json.write(doc));
    }
    return code;
  }

  private static String describe(StopResult r) {
    return switch (r) {
      case NOT_RUNNING -> "not running";
      case CLEANED_STALE -> "was not running; removed its stale files";
      case SHUT_DOWN -> "shut down";
      case TERMINATED -> "terminated (SIGTERM)";
      case KILLED -> "killed (SIGKILL after the grace period)";
    };
  }
}
