package dev.fastbind.cli;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.RuntimeFileException;
import dev.fastbind.broker.SpawnLockTimeoutException;
import dev.fastbind.broker.UntrustedStateException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * {@code fastbind}: the operator's view of the daemons in a runtime directory. Every command is a thin
 * layer over the broker's public API ({@link Broker#list(Path)}, {@link Broker#status},
 * {@link Broker#stop(dev.fastbind.broker.ListedDaemon, java.time.Duration)}), so a launcher can offer
 * the same, and acts only on what the broker has verified.
 *
 * <p>Exit codes, the same for every command: {@value #OK} done; {@value #NOT_RUNNING} not running or
 * not found (status of a service with no live daemon, stop or logs of a service without files);
 * {@value #USAGE} bad command line; {@value #REFUSED} refused: the runtime directory is unsafe or a
 * daemon's state is untrusted, so nothing was done to it; {@value #FAILED} an I/O error;
 * {@value #UNAVAILABLE} the command is not available in this build; {@value #PROBLEMS}
 * {@code doctor} found problems.
 */
@Command(name = "fastbind", mixinStandardHelpOptions = true, versionProvider = Fastbind.Version.class,
    description = "Lists, explains, stops and diagnoses fastbind daemons.",
    subcommands = {ListCommand.class, StatusCommand.class, StopCommand.class, LogsCommand.class,
        DoctorCommand.class, CleanCommand.class, CommandLine.HelpCommand.class},
    footerHeading = "%nExit codes:%n",
    footer = {"  0  done", "  1  not running or not found", "  2  usage error", "  3  refused (unsafe runtime"
        + " directory, untrusted daemon state); nothing changed", "  4  I/O error",
        "  5  not available in this build", "  6  doctor found problems"})
public final class Fastbind implements Runnable {

  /** Done. */
  public static final int OK = 0;
  /** Not running, or not found. */
  public static final int NOT_RUNNING = 1;
  /** A bad command line. */
  public static final int USAGE = 2;
  /** Refused: an unsafe runtime directory or untrusted state; nothing was changed. */
  public static final int REFUSED = 3;
  /** An I/O error. */
  public static final int FAILED = 4;
  /** The command is not available in this build. */
  public static final int UNAVAILABLE = 5;
  /** {@code doctor} found problems. */
  public static final int PROBLEMS = 6;

  @Option(names = "--json", scope = ScopeType.INHERIT,
      description = "Write one JSON document (with a \"schema\" version) instead of text.")
  boolean json;

  @Option(names = "--runtime-dir", scope = ScopeType.INHERIT, paramLabel = "DIR",
      description = "The runtime directory (default: as the broker resolves it, $XDG_RUNTIME_DIR/fastbind"
          + " or <tmp>/fastbind-$USER).")
  Path runtimeDir;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /** The broker every command uses; it records no metrics. */
  final Broker broker = Broker.create();

  /** Runs the CLI and exits with its code. */
  public static void main(String[] args) {
    System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /**
   * Runs the CLI with {@code args}, writing to {@code out} and {@code err}.
   *
   * @param args the command line
   * @param out where results go
   * @param err where errors go
   * @return the exit code (see the class doc)
   */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    Fastbind root = new Fastbind();
    CommandLine cli = new CommandLine(root);
    cli.setOut(out);
    cli.setErr(err);
    cli.setExecutionExceptionHandler((e, line, parsed) -> {
      int code = codeOf(e);
      String command = line.getCommandName();
      if (root.json) {
        Map<String, Object> doc = document(command);
        doc.put("error", e.getMessage() == null ? e.toString() : e.getMessage());
        doc.put("exit", code);
        line.getOut().println(Json.write(doc));
      }
      line.getErr().println("fastbind " + command + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()));
      return code;
    });
    int code = cli.execute(args);
    out.flush();
    err.flush();
    return code;
  }

  private static int codeOf(Exception e) {
    if (e instanceof RuntimeFileException || e instanceof UntrustedStateException) {
      return REFUSED;
    }
    if (e instanceof SpawnLockTimeoutException || e instanceof IOException) {
      return FAILED;
    }
    if (e instanceof IllegalArgumentException) {
      return USAGE;
    }
    return FAILED;
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** The runtime directory the command works on: {@code --runtime-dir}, made absolute, or the broker's default. */
  Path directory() {
    return runtimeDir == null ? Broker.defaultRuntimeDirectory() : runtimeDir.toAbsolutePath().normalize();
  }

  /** A {@code --json} document's first fields: the schema version and the command. */
  static Map<String, Object> document(String command) {
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("schema", Json.SCHEMA);
    doc.put("command", command);
    return doc;
  }

  /** The implementation version from the jar's manifest, when run from a jar. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Fastbind.class.getPackage().getImplementationVersion();
      return new String[] {"fastbind " + (v == null ? "(development build)" : v)};
    }
  }
}
