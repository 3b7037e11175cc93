package dev.fastbind.cli;

import dev.fastbind.broker.ListedDaemon;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code fastbind status SERVICE [--explain]}: the state of a service's daemons (its first one and any
 * beside it) and, with {@code --explain}, why: what the broker verified, the reason the next launcher
 * call would spawn with, what differs in a side-by-side daemon's compatibility key, and the last
 * death record once the broker keeps them.
 */
@Command(name = "status", description = "Shows the state of a service's daemons, and with --explain why.")
final class StatusCommand implements Callable<Integer> {

  @ParentCommand Fastbind root;

  @Parameters(index = "0", paramLabel = "SERVICE", description = "The service name.")
  String service;

  @Option(names = "--explain", description = "Say why: what was verified, spawn reasons, key differences,"
      + " the last death record.")
  boolean explain;

  @Override
  public Integer call() throws Exception {
    ServiceDefinition.checkName(service);
    Path dir = root.directory();
    List<ListedDaemon> slots = new ArrayList<>();
    for (ListedDaemon d : root.broker.list(dir)) {
      if (d.service().equals(service)) {
        slots.add(d);
      }
    }
    ServiceDefinition definition = ServiceDefinition.existing(service, dir);
    // Without a lockfile the broker's status still sees an endpoint held by a process without a record.
    ServiceStatus primary = slots.isEmpty() || slots.get(0).compatibilityId().isPresent()
        ? root.broker.status(definition) : slots.get(0).status();
    PrintWriter out = root.spec.commandLine().getOut();
    int code = exitCode(primary, slots);
    if (root.json) {
      Map<String, Object> doc = Fastbind.document("status");
      doc.put("runtimeDirectory", dir.toString());
      doc.put("service", service);
      doc.put("state", Render.state(best(primary, slots)));
      List<Object> daemons = new ArrayList<>();
      for (ListedDaemon d : slots) {
        Map<String, Object> m = Render.json(d);
        if (explain) {
          m.put("explain", explanation(d, slots, definition));
        }
        daemons.add(m);
      }
      doc.put("daemons", daemons);
      if (slots.isEmpty()) {
        doc.put("detail", Render.detail(primary).isEmpty() ? "no lockfile in " + dir : Render.detail(primary));
      }
      doc.put("exit", code);
      out.println(Json.write(doc));
      return code;
    }
    if (slots.isEmpty()) {
      out.println(service + ": " + Render.state(primary) + " (" + (Render.detail(primary).isEmpty()
          ? "no lockfile in " + dir : Render.detail(primary)) + ")");
      if (explain) {
        out.println("  last death: " + lastDeath(definition).orElse(NO_DEATH_RECORDED));
      }
      return code;
    }
    for (ListedDaemon d : slots) {
      StringBuilder line = new StringBuilder(d.slot()).append(": ").append(Render.stateWithProgress(d.status()));
      List<String> facts = new ArrayList<>();
      d.pid().ifPresent(p -> facts.add("pid " + p));
      d.version().ifPresent(v -> facts.add("version " + v));
      d.uptime().ifPresent(u -> facts.add("up " + Render.duration(u)));
      if (d.residentBytes().isPresent()) {
        facts.add(Render.bytes(d.residentBytes().getAsLong()) + " resident");
      }
      if (!facts.isEmpty()) {
        line.append(" (").append(String.join(", ", facts)).append(')');
      }
      out.println(line);
      if (explain) {
        for (Map.Entry<String, Object> e : explanation(d, slots, definition).entrySet()) {
          if (e.getValue() != null && !(e.getValue() instanceof Boolean)) {
            out.println("  " + words(e.getKey()) + ": " + e.getValue());
          }
        }
      } else if (!Render.detail(d.status()).isEmpty() && !Render.usable(d.status())) {
        out.println("  " + Render.detail(d.status()));
      }
    }
    return code;
  }

  /** A JSON field name as words for the text output: {@code lastSpawnReason} → {@code last spawn reason}. */
  static String words(String camel) {
    StringBuilder b = new StringBuilder();
    for (char c : camel.toCharArray()) {
      if (Character.isUpperCase(c)) {
        b.append(' ').append(Character.toLowerCase(c));
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static ServiceStatus best(ServiceStatus primary, List<ListedDaemon> slots) {
    for (ListedDaemon d : slots) {
      if (Render.usable(d.status())) {
        return d.status();
      }
    }
    return slots.isEmpty() ? primary : slots.get(0).status();
  }

  private static int exitCode(ServiceStatus primary, List<ListedDaemon> slots) {
    boolean untrusted = primary instanceof ServiceStatus.Untrusted;
    for (ListedDaemon d : slots) {
      if (Render.usable(d.status())) {
        return Fastbind.OK;
      }
      untrusted |= d.status() instanceof ServiceStatus.Untrusted;
    }
    return untrusted ? Fastbind.REFUSED : Fastbind.NOT_RUNNING;
  }

  static final String NO_DEATH_RECORDED = "none recorded";

  /** The last death record of the service's first slot, as one line (how it ended, when, uptime). */
  static Optional<String> lastDeath(ServiceDefinition definition) throws IOException {
    return dev.fastbind.broker.Broker.create().lastDeath(definition).map(dev.fastbind.broker.DeathRecord::summary);
  }

  /** Why the slot is in its state, keyed by topic, in the order shown; null values are not shown in text. */
  private static Map<String, Object> explanation(ListedDaemon d, List<ListedDaemon> slots,
      ServiceDefinition definition) throws IOException {
    Map<String, Object> m = new LinkedHashMap<>();
    ServiceStatus s = d.status();
    String why;
    String nextSpawn = null;
    if (s instanceof ServiceStatus.Running r) {
      why = r.daemon().stage() == dev.fastbind.broker.DaemonInfo.Stage.BOUND
          ? "a broker bound its endpoint and handed it over; the daemon has not yet announced that it serves"
          : "its lockfile names pid " + r.daemon().pid() + ", which the kernel confirms (start time, boot, uid,"
              + " listening socket) and which answered HELLO as the recorded daemon: "
              + (r.ready() ? "READY" : "WARMING " + r.progressPercent() + "%" + r.phase().map(p -> " " + p).orElse(""));
    } else if (s instanceof ServiceStatus.Unresponsive u) {
      why = Render.detail(u) + "; a launcher reports it (DaemonUnresponsiveException) or replaces it,"
          + " as its definition's unresponsive policy says";
    } else if (s instanceof ServiceStatus.Stale st) {
      why = st.detail();
      nextSpawn = st.reason().name();
    } else if (s instanceof ServiceStatus.Untrusted u) {
      why = u.detail() + " (nothing is done to it: not by launchers, not by fastbind stop)";
    } else {
      why = "no lockfile";
      nextSpawn = "ABSENT";
    }
    m.put("why", why);
    m.put("nextSpawnReason", nextSpawn == null ? null
        : nextSpawn + ": the next launcher call clears the stale files and spawns with this reason");
    m.put("lastSpawnReason", Render.usable(s) ? "not recorded on disk: the launcher that spawned it received it as"
        + " DaemonInfo.spawnReason()" : null);
    Optional<String> death = lastDeath(definition);
    m.put("lastDeath", death.orElse(NO_DEATH_RECORDED));
    m.put("deathRecorded", death.isPresent());
    if (d.compatibilityId().isPresent()) {
      Optional<ListedDaemon> first = slots.stream().filter(x -> x.compatibilityId().isEmpty()).findFirst();
      m.put("besideTheFirst", "runs beside the service's first daemon because its compatibility key differs"
          + (first.isPresent() && !first.get().compatibilityKey().isEmpty()
              ? ": " + keyDiff(first.get().compatibilityKey(), d.compatibilityKey()) : ""));
    } else {
      m.put("besideTheFirst", null);
    }
    m.put("log", d.log().toString());
    return m;
  }

  /** What differs between two canonical compatibility keys ({@code name=value;…}): {@code name a → b; …}. */
  static String keyDiff(String from, String to) {
    Map<String, String> a = entries(from);
    Map<String, String> b = entries(to);
    List<String> parts = new ArrayList<>();
    for (String k : new TreeSet<>(union(a, b))) {
      String x = a.getOrDefault(k, "(none)");
      String y = b.getOrDefault(k, "(none)");
      if (!x.equals(y)) {
        parts.add(k + " " + shorten(x) + " \u2192 " + shorten(y));
      }
    }
    return parts.isEmpty() ? "(keys equal)" : String.join("; ", parts);
  }

  private static java.util.Set<String> union(Map<String, String> a, Map<String, String> b) {
    java.util.Set<String> all = new java.util.HashSet<>(a.keySet());
    all.addAll(b.keySet());
    return all;
  }

  private static Map<String, String> entries(String key) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String e : key.split(";")) {
      int eq = e.indexOf('=');
      if (eq > 0) {
        m.put(e.substring(0, eq), e.substring(eq + 1));
      }
    }
    return m;
  }

  private static String shorten(String v) {
    return v.length() <= 60 ? v : v.substring(0, 28) + "\u2026" + v.substring(v.length() - 28);
  }
}
