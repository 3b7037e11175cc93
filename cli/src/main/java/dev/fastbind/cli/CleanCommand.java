package dev.fastbind.cli;

import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/**
 * {@code fastbind clean}: removes the files of services that have not run for a while. A seam for
 * now: the broker's {@code Broker.clean} is being added separately; until this build has it, the
 * command says so and changes nothing (exit {@value Fastbind#UNAVAILABLE}).
 */
@Command(name = "clean", description = "Removes the files of services that have not run for a while"
    + " (not available in this build yet).")
final class CleanCommand implements Callable<Integer> {

  @ParentCommand Fastbind root;

  @Override
  public Integer call() {
    // Seam: delegate to Broker.clean(directory, ...) once the broker has it, and report what it removed.
    String why = "clean is not available yet: this build's broker has no Broker.clean; nothing was removed";
    if (root.json) {
      Map<String, Object> doc = Fastbind.document("clean");
      doc.put("runtimeDirectory", root.directory().toString());
      doc.put("available", false);
      doc.put("detail", why);
      root.spec.commandLine().getOut().println(Json.write(doc));
    } else {
      root.spec.commandLine().getErr().println("fastbind clean: " + why);
    }
    return Fastbind.UNAVAILABLE;
  }
}
