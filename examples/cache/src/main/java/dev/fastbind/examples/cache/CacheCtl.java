package dev.fastbind.examples.cache;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.CallCancelledException;
import dev.fastbind.broker.CallFailedException;
import dev.fastbind.broker.CallRefusedException;
import dev.fastbind.broker.CallTimeoutException;
import dev.fastbind.broker.CrashLoopException;
import dev.fastbind.broker.DaemonBroker;
import dev.fastbind.broker.DaemonClient;
import dev.fastbind.broker.DaemonDiedException;
import dev.fastbind.broker.DaemonStartException;
import dev.fastbind.broker.DaemonUnresponsiveException;
import dev.fastbind.broker.RetryPolicy;
import dev.fastbind.broker.RuntimeFileException;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import dev.fastbind.broker.SpawnLockTimeoutException;
import dev.fastbind.broker.StopResult;
import dev.fastbind.broker.UntrustedStateException;
import dev.fastbind.broker.VersionMismatchException;
import dev.fastbind.examples.cache.CacheProtocol.Damaged;
import dev.fastbind.examples.cache.CacheProtocol.Found;
import dev.fastbind.examples.cache.CacheProtocol.Get;
import dev.fastbind.examples.cache.CacheProtocol.NotFound;
import dev.fastbind.examples.cache.CacheProtocol.Put;
import dev.fastbind.examples.cache.CacheProtocol.Request;
import dev.fastbind.examples.cache.CacheProtocol.Response;
import dev.fastbind.examples.cache.CacheProtocol.Statistics;
import dev.fastbind.examples.cache.CacheProtocol.Stats;
import dev.fastbind.examples.cache.CacheProtocol.Stored;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;

/**
 * {@code cachectl}, the command-line client of {@link CacheBackend}: what a build tool's front end
 * does on every invocation. Each run is a fresh JVM that asks the broker for the daemon (spawning it
 * when none runs) and makes one call through a {@link DaemonClient}.
 *
 * <pre>
 * cachectl put FILE|-          store a file (or standard input); prints its key
 * cachectl get KEY [-o FILE]   the blob of KEY on standard output, or into FILE
 * cachectl stats               what the daemon holds and has done, one fact a line
 * cachectl status              whether a daemon runs; never starts one
 * cachectl stop                stops the daemon (verified by the broker); says which, or that none ran
 * </pre>
 *
 * <p>While a call waits for a daemon that is still loading its index, its progress is shown on
 * stderr. Every failure is one line on stderr ({@code cachectl: } what went wrong, about what, and
 * what to do) and an exit status in the style of {@code sysexits.h}: 1 the key is not in the cache;
 * 3 ({@code status}) no daemon runs; 64 usage; 65 the blob is damaged or the input too large; 66 the
 * input file cannot be read; 69 the daemon did not start or another version runs; 70 the daemon
 * failed the request; 73 the output file cannot be written; 74 other I/O errors; 75 try again later
 * (a crash loop, a daemon that died or timed out during the call, a busy spawn lock); 77 runtime
 * files or a state directory that are not safe to use (nothing was touched).
 *
 * <p>The state directory is resolved as {@link CacheBackend} documents ({@code CACHECTL_STATE_DIR},
 * else the XDG default) and passed to the daemon; it is part of the daemon's compatibility key, so
 * launchers with different state directories never share a daemon. The runtime directory is the
 * broker's default ({@code $XDG_RUNTIME_DIR/fastbind}).
 *
 * <p>The commands run in {@link #run}, which takes the {@link DaemonBroker} to use: {@link #main}
 * passes {@link Broker#create()}, tests may pass a scripted or recording one.
 */
public final class CacheCtl {

  static final String USAGE = "usage: cachectl get KEY [-o FILE] | put FILE|- | stats | status | stop";
  /** How long one call may take, a cold start and the index load included. */
  static final Duration DEADLINE = Duration.ofMinutes(2);
  /**
   * Every request of the cache may run twice: a put of the same content stores the same blob under
   * the same key, and a get or stats only reads. So a daemon that dies or stops during a call is
   * replaced and the call tried again, twice at most, within the deadline.
   */
  static final RetryPolicy RETRY = RetryPolicy.builder().maxAttempts(3)
      .retry(RetryPolicy.Retryable.IDEMPOTENT).build();
  /** How long a call waits before it shows the daemon's warm-up progress. */
  private static final Duration WARMUP_NOTICE = Duration.ofMillis(200);

  private CacheCtl() {}

  /** Entry point; exits with the command's status. */
  public static void main(String[] args) {
    CacheBackend.Settings settings;
    try {
      settings = CacheBackend.Settings.current();
    } catch (IllegalArgumentException e) {
      System.err.println("cachectl: " + e.getMessage());
      System.exit(64);
      return;
    }
    int status = run(Broker.create(), definition(settings.stateDirectory()), settings.stateDirectory(), args,
        System.in, System.out, System.err);
    System.out.flush();
    System.exit(status);
  }

  /** The daemon's definition: this class path with {@link CacheBackend} as main, for {@code stateDirectory}. */
  static ServiceDefinition definition(Path stateDirectory) {
    return ServiceDefinition.builder(CacheBackend.SERVICE)
        .javaMain(CacheBackend.class.getName())
        .javaOptions("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")
        .version(CacheBackend.VERSION)
        .environment("CACHECTL_STATE_DIR", stateDirectory.toString())
        .compatibilityKey("state-dir", stateDirectory.toString())
        .build();
  }

  /**
   * Runs one command.
   *
   * @return the exit status: 0, or as the class documentation lists
   */
  static int run(DaemonBroker broker, ServiceDefinition cache, Path stateDirectory, String[] args, InputStream in,
      PrintStream out, PrintStream err) {
    String command = args.length == 0 ? "" : args[0];
    try {
      switch (command) {
        case "put":
          return args.length == 2 ? put(broker, cache, stateDirectory, args[1], in, out, err) : usage(err);
        case "get":
          if (args.length == 2 || (args.length == 4 && args[2].equals("-o"))) {
            return get(broker, cache, stateDirectory, args[1], args.length == 4 ? Path.of(args[3]) : null, out, err);
          }
          return usage(err);
        case "stats":
          return args.length == 1 ? stats(broker, cache, stateDirectory, out, err) : usage(err);
        case "status":
          return args.length == 1 ? status(broker, cache, stateDirectory, out) : usage(err);
        case "stop":
          return args.length == 1 ? stop(broker, cache, out) : usage(err);
        default:
          return usage(err);
      }
    } catch (IOException e) {
      return report(e, err);
    }
  }

  private static int usage(PrintStream err) {
    err.println(USAGE);
    return 64;
  }

  private static int put(DaemonBroker broker, ServiceDefinition cache, Path state, String source, InputStream in,
      PrintStream out, PrintStream err) throws IOException {
    byte[] blob;
    if (source.equals("-")) {
      blob = in.readNBytes(CacheProtocol.MAX_BLOB_BYTES + 1);
      if (blob.length > CacheProtocol.MAX_BLOB_BYTES) {
        return tooLarge("standard input", "more than " + CacheProtocol.MAX_BLOB_BYTES, err);
      }
    } else {
      Path file = Path.of(source);
      if (!Files.isRegularFile(file)) {
        err.println("cachectl: " + file + ": no such file (put takes a regular file, or - for standard input)");
        return 66;
      }
      long size = Files.size(file);
      if (size > CacheProtocol.MAX_BLOB_BYTES) {
        return tooLarge(file.toString(), Long.toString(size), err);
      }
      try {
        blob = Files.readAllBytes(file);
      } catch (IOException e) {
        err.println("cachectl: " + file + ": cannot read it (" + e.getMessage() + ")");
        return 66;
      }
      if (blob.length > CacheProtocol.MAX_BLOB_BYTES) {
        return tooLarge(file.toString(), Integer.toString(blob.length), err); // it grew meanwhile
      }
    }
    Optional<Integer> refused = refuseState(state, err);
    if (refused.isPresent()) {
      return refused.get();
    }
    Stored stored = (Stored) call(broker, cache, new Put(blob), err);
    out.println(stored.key());
    return 0;
  }

  private static int tooLarge(String what, String bytes, PrintStream err) {
    err.println("cachectl: " + what + " is " + bytes + " bytes, more than the " + CacheProtocol.MAX_BLOB_BYTES
        + " bytes (16 MiB) a blob may hold; nothing was sent: store smaller pieces");
    return 65;
  }

  private static int get(DaemonBroker broker, ServiceDefinition cache, Path state, String key, Path target,
      PrintStream out, PrintStream err) throws IOException {
    if (!CacheProtocol.isKey(key)) {
      err.println("cachectl: '" + key + "' is not a key: a key is the 64 lowercase hex digits that put printed");
      return 64;
    }
    Optional<Integer> refused = refuseState(state, err);
    if (refused.isPresent()) {
      return refused.get();
    }
    Response response = call(broker, cache, new Get(key), err);
    if (response instanceof NotFound) {
      err.println("cachectl: " + key + ": not in the cache (put it first)");
      return 1;
    }
    if (response instanceof Damaged d) {
      err.println("cachectl: " + key + ": damaged: " + d.detail());
      return 65;
    }
    byte[] blob = ((Found) response).blob();
    if (target == null) {
      out.write(blob);
      out.flush();
      return 0;
    }
    try {
      Files.write(target, blob);
    } catch (IOException e) {
      err.println("cachectl: " + target + ": cannot write the blob there (" + e.getMessage() + ")");
      return 73;
    }
    return 0;
  }

  private static int stats(DaemonBroker broker, ServiceDefinition cache, Path state, PrintStream out, PrintStream err)
      throws IOException {
    Optional<Integer> refused = refuseState(state, err);
    if (refused.isPresent()) {
      return refused.get();
    }
    Statistics s = (Statistics) call(broker, cache, new Stats(), err);
    out.println("entries: " + s.entries());
    out.println("bytes: " + s.bytes());
    out.println("hits: " + s.hits());
    out.println("misses: " + s.misses());
    out.println("index load: " + human(s.indexLoad()));
    out.println("uptime: " + human(s.uptime()));
    out.println("pid: " + s.pid());
    out.println("state directory: " + s.stateDirectory());
    return 0;
  }

  private static int status(DaemonBroker broker, ServiceDefinition cache, Path state, PrintStream out)
      throws IOException {
    ServiceStatus status = broker.status(cache);
    int exit;
    if (status instanceof ServiceStatus.Running r) {
      out.println("daemon: " + (r.ready() ? "ready"
          : "warming up, " + r.progressPercent() + "%" + r.phase().map(p -> " (" + p + ")").orElse("")));
      out.println("pid: " + r.daemon().pid());
      out.println("version: " + r.daemon().version().orElse("unknown"));
      exit = 0;
    } else if (status instanceof ServiceStatus.Unresponsive u) {
      out.println("daemon: not answering (pid " + u.pid() + "; cachectl stop ends it)");
      exit = 75;
    } else if (status instanceof ServiceStatus.Untrusted u) {
      out.println("daemon: unknown, its runtime files are not trusted (" + u.kind() + "): " + u.detail());
      exit = 77;
    } else {
      out.println("daemon: not running");
      exit = 3;
    }
    out.println("state directory: " + state);
    return exit;
  }

  private static int stop(DaemonBroker broker, ServiceDefinition cache, PrintStream out) throws IOException {
    ServiceStatus before = broker.status(cache);
    StopResult result = broker.stop(cache);
    if (result == StopResult.NOT_RUNNING || result == StopResult.CLEANED_STALE) {
      out.println("no cache daemon was running" + (result == StopResult.CLEANED_STALE ? "; removed its stale files" : ""));
      return 0;
    }
    String pid = before instanceof ServiceStatus.Running r ? "pid " + r.daemon().pid()
        : before instanceof ServiceStatus.Unresponsive u ? "pid " + u.pid() : "its pid unknown";
    out.println("stopped the cache daemon (" + pid + ")" + switch (result) {
      case TERMINATED -> " with SIGTERM: it did not answer SHUTDOWN";
      case KILLED -> " with SIGKILL: it did not end within the grace period";
      default -> "";
    });
    return 0;
  }

  /** Refuses a state directory that the daemon would refuse, before anything starts: one line, 77. */
  private static Optional<Integer> refuseState(Path state, PrintStream err) throws IOException {
    Optional<String> why = BlobStore.refusal(state);
    why.ifPresent(w -> err.println("cachectl: " + w));
    return why.map(w -> 77);
  }

  /** One call, showing the daemon's warm-up on {@code err} if the answer takes a while. */
  private static Response call(DaemonBroker broker, ServiceDefinition cache, Request request, PrintStream err)
      throws IOException {
    Thread watcher = new Thread(() -> showWarmup(broker, cache, err), "cachectl-warmup");
    watcher.setDaemon(true);
    watcher.start();
    try (DaemonClient client = DaemonClient.create(broker, cache)) {
      return client.call(request, CacheProtocol.REQUESTS, CacheProtocol.RESPONSES, DEADLINE, RETRY);
    } finally {
      watcher.interrupt();
      try {
        watcher.join(1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static void showWarmup(DaemonBroker broker, ServiceDefinition cache, PrintStream err) {
    int shown = -1;
    try {
      Thread.sleep(WARMUP_NOTICE.toMillis()); // a call answered by then shows nothing
      while (true) {
        if (broker.status(cache) instanceof ServiceStatus.Running r && !r.ready() && r.progressPercent() != shown) {
          shown = r.progressPercent();
          err.println("cachectl: the cache daemon (pid " + r.daemon().pid() + ") is warming up: " + shown + "%"
              + r.phase().map(p -> " (" + p + ")").orElse(""));
        }
        Thread.sleep(100); // a progress display: HELLO has no push
      }
    } catch (InterruptedException | IOException e) {
      // the call is over, or the broker cannot tell: the call reports what matters
    }
  }

  /** One line on {@code err} for a failure of the broker or the call, and the exit status for it. */
  static int report(IOException e, PrintStream err) {
    String what;
    int status;
    if (e instanceof DaemonStartException s) {
      what = "the cache daemon did not start (its log: " + s.logFile() + ")";
      status = 69;
    } else if (e instanceof VersionMismatchException) {
      what = "another version of the cache daemon runs (cachectl stop ends it)";
      status = 69;
    } else if (e instanceof CrashLoopException c) {
      what = "the cache daemon keeps crashing; try again in " + Math.max(1, c.retryAfter().toSeconds()) + " s";
      status = 75;
    } else if (e instanceof DaemonUnresponsiveException) {
      what = "the cache daemon does not answer (cachectl stop ends it)";
      status = 75;
    } else if (e instanceof SpawnLockTimeoutException) {
      what = "another cachectl is starting or stopping the daemon; try again";
      status = 75;
    } else if (e instanceof DaemonDiedException) {
      what = "the cache daemon died during the call; the next cachectl starts a new one";
      status = 75;
    } else if (e instanceof CallTimeoutException || e instanceof CallCancelledException) {
      what = "the cache daemon did not answer in time; try again";
      status = 75;
    } else if (e instanceof CallRefusedException r && (r.reason() == CallRefusedException.Reason.TOO_LARGE
        || r.reason() == CallRefusedException.Reason.MALFORMED)) {
      what = "the cache daemon refused the request as " + (r.reason() == CallRefusedException.Reason.TOO_LARGE
          ? "too large" : "malformed") + " (is it another version of cachectl's protocol? cachectl stop ends it)";
      status = 65;
    } else if (e instanceof CallRefusedException) {
      what = "the cache daemon is stopping or still warming up and did not run the request; try again";
      status = 75;
    } else if (e instanceof CallFailedException) {
      what = "the cache daemon failed the request";
      status = 70;
    } else if (e instanceof UntrustedStateException) {
      what = "the runtime files are not the cache daemon's; nothing was touched";
      status = 77;
    } else if (e instanceof RuntimeFileException) {
      what = "the runtime directory cannot be used";
      status = 77;
    } else {
      what = "I/O error";
      status = 74;
    }
    err.println("cachectl: " + what + ": " + firstLine(e.getMessage()));
    return status;
  }

  private static String firstLine(String message) {
    if (message == null) {
      return "(no detail)";
    }
    int nl = message.indexOf('\n');
    return nl < 0 ? message : message.substring(0, nl);
  }

  private static String human(Duration d) {
    double ms = d.toNanos() / 1e6;
    return ms < 1000 ? String.format(Locale.ROOT, "%.1f ms", ms) : String.format(Locale.ROOT, "%.1f s", ms / 1000);
  }
}
