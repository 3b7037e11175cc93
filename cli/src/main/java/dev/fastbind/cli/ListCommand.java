package dev.fastbind.cli;

import dev.fastbind.broker.ListedDaemon;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** {@code fastbind list}: every daemon slot in the runtime directory, as {@code Broker.list} verifies it. */
@Command(name = "list", description = "Lists every daemon in the runtime directory, verified as the broker verifies.")
final class ListCommand implements Callable<Integer> {

  @ParentCommand Fastbind root;

  @Override
  public Integer call() throws Exception {
    Path dir = root.directory();
    List<ListedDaemon> found = root.broker.list(dir);
    PrintWriter out = root.spec.commandLine().getOut();
    if (root.json) {
      Map<String, Object> doc = Fastbind.document("list");
      doc.put("runtimeDirectory", dir.toString());
      List<Object> daemons = new ArrayList<>();
      for (ListedDaemon d : found) {
        daemons.add(Render.json(d));
      }
      doc.put("daemons", daemons);
      out.println(Json.write(doc));
      return Fastbind.OK;
    }
    if (found.isEmpty()) {
      out.println("no daemons in " + dir);
      return Fastbind.OK;
    }
    String format = "%-24s %8s %-10s %-16s %-12s %8s %10s%n";
    out.printf(format, "SERVICE", "PID", "VERSION", "KEY", "STATE", "UPTIME", "RSS");
    for (ListedDaemon d : found) {
      out.printf(format, d.slot().length() > 24 ? d.service() + "~" + d.compatibilityId().orElse("").substring(0, 6)
              : d.slot(),
          d.pid().isPresent() ? Long.toString(d.pid().getAsLong()) : "-", d.version().orElse("-"),
          d.compatibilityKeyId().orElse("-"), Render.stateWithProgress(d.status()),
          d.uptime().map(Render::duration).orElse("-"),
          d.residentBytes().isPresent() ? Render.bytes(d.residentBytes().getAsLong()) : "-");
    }
    out.println(found.size() + (found.size() == 1 ? " daemon" : " daemons") + " in " + dir);
    return Fastbind.OK;
  }
}
