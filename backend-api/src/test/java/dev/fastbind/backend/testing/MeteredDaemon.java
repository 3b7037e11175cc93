package dev.fastbind.backend.testing;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.loop.RequestLoop;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Measurement;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A real daemon for the metrics tests: serves through the SDK's {@link RequestLoop}, answering
 * {@code meters} with a dump of its registry and anything else with {@code echo:} and the request.
 * With {@code -Dfastbind.test.metrics=true} it hands {@code Daemon.Builder.meterRegistry} a
 * {@link SimpleMeterRegistry} (the loop finds it through its context) and, as a shutdown action
 * registered after the loop's drain, prints the dump to its log with each line prefixed
 * {@code meters: }. Without that property no Micrometer class is named on its way: {@link Meters}
 * is the only class here that uses Micrometer, so it also runs with Micrometer off the class path.
 *
 * <p>Arguments (after the bootstrap's own): {@code warm-ms=N} warms for N ms before
 * {@code ready()}. {@code -Dfastbind.test.idle-ms=} sets an idle timeout.
 */
public final class MeteredDaemon implements BrokeredBackend {
  private static final boolean METERED = Boolean.getBoolean("fastbind.test.metrics");

  public static void main(String[] args) {
    Daemon.Builder builder = Daemon.builder("metered", new MeteredDaemon()).version("1");
    Long idleMillis = Long.getLong("fastbind.test.idle-ms");
    if (idleMillis != null) {
      builder.idleTimeout(java.time.Duration.ofMillis(idleMillis));
    }
    if (METERED) {
      Meters.attach(builder);
    }
    builder.run(args);
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    long warmMillis = 0;
    for (String arg : context.arguments()) {
      if (arg.startsWith("warm-ms=")) {
        warmMillis = Long.parseLong(arg.substring("warm-ms=".length()));
      }
    }
    RequestLoop loop = RequestLoop.builder().start(listener, context);
    if (METERED) {
      context.onShutdown(() -> System.err.print(Meters.dump("meters: ")));
    }
    if (warmMillis > 0) {
      Thread.sleep(warmMillis); // the warm-up being measured, not a wait for another thread
    }
    return loop.serve((request, ctx) -> {
      String text = new String(request, StandardCharsets.UTF_8);
      String answer = text.equals("meters") ? (METERED ? Meters.dump("") : "no registry") : "echo:" + text;
      return answer.getBytes(StandardCharsets.UTF_8);
    });
  }

  /** The registry, and the one place that names Micrometer types. */
  static final class Meters {
    static final SimpleMeterRegistry REGISTRY = new SimpleMeterRegistry();

    static void attach(Daemon.Builder builder) {
      builder.meterRegistry(REGISTRY);
    }

    /**
     * One line per meter, sorted: {@code name{k=v,...} STATISTIC=value ...}, times in seconds (the
     * simple registry's base unit).
     */
    static String dump(String prefix) {
      List<String> lines = new ArrayList<>();
      for (Meter m : REGISTRY.getMeters()) {
        StringBuilder line = new StringBuilder(prefix).append(m.getId().getName()).append('{');
        line.append(m.getId().getTags().stream().map(t -> t.getKey() + "=" + t.getValue())
            .collect(Collectors.joining(",")));
        line.append('}');
        for (Measurement s : m.measure()) {
          line.append(' ').append(s.getStatistic().name()).append('=').append(s.getValue());
        }
        lines.add(line.toString());
      }
      lines.sort(null);
      return String.join("\n", lines) + "\n";
    }

    private Meters() {}
  }
}
