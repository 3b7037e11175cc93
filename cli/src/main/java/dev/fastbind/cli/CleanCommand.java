package dev.fastbind.cli;

import dev.fastbind.broker.Broker;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code fastbind clean}: removes the files of services that have not run for a while, through
 * {@link Broker#clean(Path, Duration)} (never a live daemon's files, never a link), and lists them.
 */
@Command(name = "clean", description = "Removes the files of services that have not run for a while"
    + " (never those of a live daemon) and lists what it removed.")
final class CleanCommand implements Callable<Integer> {

  @ParentCommand Fastbind root;

  @Option(names = "--unused-for", paramLabel = "DURATION", defaultValue = "P7D",
      description = "How long a service's files must have been left unused, ISO-8601 (default: ${DEFAULT-VALUE}).")
  Duration unusedFor;

  @Override
  public Integer call() throws IOException {
    Path dir = root.directory();
    List<Path> removed = Broker.create().clean(dir, unusedFor);
    if (root.json) {
      Map<String, Object> doc = Fastbind.document("clean");
      doc.put("runtimeDirectory", dir.toString());
      doc.put("unusedFor", unusedFor.toString());
      List<Object> names = new ArrayList<>();
      for (Path p : removed) {
        names.add(p.toString());
      }
      doc.put("removed", names);
      root.spec.commandLine().getOut().println(Json.write(doc));
    } else if (removed.isEmpty()) {
      root.spec.commandLine().getOut().println("nothing to clean in " + dir + " (unused for " + unusedFor + ")");
    } else {
      for (Path p : removed) {
        root.spec.commandLine().getOut().println("removed " + p);
      }
    }
    return Fastbind.OK;
  }
}
