package dev.fastbind.benchmarks;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import java.io.File;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The cold-start harness: what a person waits for, measured from outside, beside a bare JVM start.
 *
 * <p>Three kinds of measurement, each interleaved with its floor so that load on a shared machine
 * hits both alike (for the first two a {@link Hello} JVM with the same JDK, flags and class path):
 * <ol>
 *   <li><b>cold</b>: {@code ensureRunning} on a stopped service until it returns a ready daemon, then
 *       {@code stop}; beside the whole-process time of a bare hello JVM;
 *   <li><b>launcher</b>: the whole-process time of a {@link Launcher} JVM whose daemon is already up;
 *   <li><b>hand-off</b>: the same answering service ({@link #answering}) without and with the
 *       listener hand-off, side by side, each variant the other's floor: the cold {@code ensureRunning}
 *       and the time from its call to the first answer on the main endpoint; a replacement
 *       ({@link Broker#replace}) under a client loop (failed attempts, connect-to-answer p99 and
 *       max, the longest time without an answer); and N launcher processes started at once on a
 *       stopped service (wall time until all printed their daemon, until all exited, and how many
 *       distinct daemons they name: one is right).
 * </ol>
 * The cold and launcher measurements each come in two variants, measured in the same rounds in
 * alternating order: with no class-data sharing beyond the JDK's default archive
 * ({@link ServiceDefinition.Builder#classDataSharing} off for the daemon, no flags for the launcher)
 * and with an archive (the broker's default for the daemon; one of its own for the launcher:
 * {@code -XX:+AutoCreateSharedArchive} on JDK 19+, {@code -XX:ArchiveClassesAtExit} then
 * {@code -XX:SharedArchiveFile} on 17), beside both a plain hello and a hello with its own archive.
 *
 * <p>Run it with the thin SDK class path (not the shaded JMH jar): the broker starts the daemon with
 * this JVM's {@code java.class.path}. Arguments: {@code --runs=N} cold rounds (default 20),
 * {@code --race=N} launchers per race (default 8), {@code --race-rounds=N} races per variant
 * (default 1), {@code --replacements=N} replacements per variant (default 1), {@code --connects=N}
 * attempts of the client loop per replacement (default 2000), {@code --aot} (JDK 25+). Output: one
 * {@code key=value} line per figure on stdout (milliseconds), progress on stderr. Every child process is waited for with a timeout and killed when it runs out; daemons
 * halt on their own after two minutes in any case.
 */
public final class ColdStart {

  /** The JVM flags for every JVM the harness and the hot-path benchmark start. */
  static final List<String> JVM_FLAGS = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto");

  private static final long CHILD_TIMEOUT_SECONDS = 30;
  private static final String SERVICE = "bench-cold";
  private static final String PLAIN_SERVICE = "bench-answer";
  private static final String HANDOFF_SERVICE = "bench-handoff";
  private static final Duration PATIENT = Duration.ofSeconds(CHILD_TIMEOUT_SECONDS);

  private final Path dir;
  private final Broker broker = Broker.create();
  private final Map<String, String> out = new LinkedHashMap<>();
  private final Map<Process, Path> outputs = new HashMap<>();

  private ColdStart(Path dir) {
    this.dir = dir;
  }

  /**
   * The service the harness and every {@link Launcher} use; {@code sharing} turns the broker's
   * class-data sharing archive for the daemon on or off.
   */
  static ServiceDefinition definition(Path dir, boolean sharing) {
    return definition(dir, sharing, JVM_FLAGS);
  }

  /** {@link #definition(Path, boolean)} with these JVM options for the daemon instead of the harness's own. */
  static ServiceDefinition definition(Path dir, boolean sharing, List<String> options) {
    return ServiceDefinition.builder(SERVICE)
        .javaMain(BenchDaemon.class.getName(), "--lifetime=120")
        .javaOptions(options.toArray(String[]::new))
        .classDataSharing(sharing)
        .runtimeDirectory(dir)
        // the harness spawns and stops on purpose, dozens of times a minute: not a crash loop
        .crashLoopLimit(10_000, Duration.ofSeconds(1))
        // a figure, not a verdict: on a loaded 2-core machine a spawn may pass the 500 ms default
        .probeBudget(Duration.ofSeconds(10))
        .build();
  }

  /**
   * The answering service of the hand-off comparison: {@link BenchDaemon} with {@code --answer}, the
   * broker's defaults (its CDS archive), with or without the listener hand-off. Each variant is a
   * service of its own, so each has its own archive, written by a daemon of its own kind (the
   * hand-off daemon's archive holds junixsocket's classes, which it loads to take the socket).
   */
  static ServiceDefinition answering(Path dir, boolean handoff) {
    return ServiceDefinition.builder(handoff ? HANDOFF_SERVICE : PLAIN_SERVICE)
        .javaMain(BenchDaemon.class.getName(), "--lifetime=120", "--answer")
        .javaOptions(JVM_FLAGS.toArray(String[]::new))
        .runtimeDirectory(dir)
        .crashLoopLimit(10_000, Duration.ofSeconds(1))
        .probeBudget(Duration.ofSeconds(10))
        .listenerHandoff(handoff)
        .build();
  }

  /** Runs the harness; see the type's documentation for arguments and output. */
  public static void main(String[] args) throws Exception {
    int runs = 20;
    int race = 8;
    int raceRounds = 1;
    int replacements = 1;
    int connects = 2000;
    boolean aot = false;
    for (String a : args) {
      if (a.startsWith("--runs=")) {
        runs = Integer.parseInt(a.substring("--runs=".length()));
      } else if (a.startsWith("--race=")) {
        race = Integer.parseInt(a.substring("--race=".length()));
      } else if (a.startsWith("--race-rounds=")) {
        raceRounds = Integer.parseInt(a.substring("--race-rounds=".length()));
      } else if (a.startsWith("--replacements=")) {
        replacements = Integer.parseInt(a.substring("--replacements=".length()));
      } else if (a.startsWith("--connects=")) {
        connects = Integer.parseInt(a.substring("--connects=".length()));
      } else if (a.equals("--aot")) {
        aot = true;
      } else {
        throw new IllegalArgumentException("unknown argument " + a);
      }
    }
    Path dir = SocketDirectory.create("fb-cold");
    ColdStart harness = new ColdStart(dir);
    try {
      harness.run(runs, race, raceRounds, replacements, connects, aot);
    } finally {
      harness.stopQuietly();
      SocketDirectory.deleteTree(dir);
    }
    harness.out.forEach((k, v) -> System.out.println(k + "=" + v));
  }

  private void run(int runs, int race, int raceRounds, int replacements, int connects, boolean aot)
      throws Exception {
    out.put("jdk", System.getProperty("java.version"));
    out.put("fs", SocketDirectory.fileSystemType(dir));
    out.put("runs", Integer.toString(runs));
    long t = System.nanoTime();
    prime();
    coldSpawns(runs);
    launchers(runs);
    t = took("cold spawns and launchers", t);
    if (aot && Runtime.version().feature() >= 25) {
      aotSeries(runs);
      t = took("AOT series", t);
    }
    handoffSpawns(runs);
    t = took("hand-off cold starts", t);
    replacements(replacements, connects);
    t = took("replacements", t);
    races(race, raceRounds);
    took("races", t);
  }

  /** Reports on stderr how long a part of the harness took (what a run's mode costs), returns now. */
  private static long took(String what, long since) {
    long now = System.nanoTime();
    System.err.printf("(%s took %.1f s)%n", what, (now - since) / 1e9);
    return now;
  }

  /**
   * JDK 25's AOT cache for the daemon, which the broker does not manage (its options turn the broker's
   * archive off): one training spawn and stop with {@code -XX:AOTCacheOutput} (the JVM assembles the
   * cache as it exits), then cold spawns with {@code -XX:AOTCache}, beside plain hello starts.
   */
  private void aotSeries(int runs) throws Exception {
    Path cache = dir.resolve("daemon.aot");
    // -Xshare:auto may not be combined with -XX:AOTCacheOutput; it is the default anyway
    List<String> flags = new ArrayList<>(JVM_FLAGS);
    flags.remove("-Xshare:auto");
    List<String> trainingFlags = new ArrayList<>(flags);
    trainingFlags.add("-XX:AOTCacheOutput=" + cache);
    ServiceDefinition training = definition(dir, true, trainingFlags);
    broker.ensureRunning(training);
    long stopStart = System.nanoTime();
    broker.stop(training);
    out.put("aot_training_stop_ms", String.format(Locale.ROOT, "%.1f", (System.nanoTime() - stopStart) / 1e6));
    if (!Files.isRegularFile(cache)) {
      System.err.println("no AOT cache was written at " + cache + "; AOT series skipped");
      return;
    }
    flags.add("-XX:AOTCache=" + cache);
    ServiceDefinition def = definition(dir, true, flags);
    long[] cold = new long[runs];
    long[] hello = new long[runs];
    for (int i = 0; i < runs; i++) {
      hello[i] = processNanos(javaCommand(JVM_FLAGS, Hello.class.getName()));
      long start = System.nanoTime();
      broker.ensureRunning(def);
      cold[i] = System.nanoTime() - start;
      broker.stop(def);
    }
    put("aot_cold", cold);
    put("aot_hello", hello);
    System.err.printf("cold start aot: p50 %.1f ms, hello p50 %.1f ms%n", Percentiles.of(cold).at(50) / 1e6,
        Percentiles.of(hello).at(50) / 1e6);
  }

  /**
   * JVM flags that give a role ({@code launcher}, {@code hello}) a dynamic CDS archive of its own: on
   * JDK 19+ created and refreshed by the JVM; on JDK 17 written by an unmeasured run with
   * {@code writing} set, then mapped.
   */
  private List<String> ownArchive(String role, boolean writing) {
    List<String> flags = new ArrayList<>(JVM_FLAGS);
    Path archive = dir.resolve(role + ".jsa");
    if (Runtime.version().feature() >= 19) {
      flags.add("-XX:+AutoCreateSharedArchive");
      flags.add("-XX:SharedArchiveFile=" + archive);
    } else {
      flags.add((writing ? "-XX:ArchiveClassesAtExit=" : "-XX:SharedArchiveFile=") + archive);
    }
    return flags;
  }

  /** Unmeasured runs that write the archives (daemon, hello, launcher with its daemon up) before measuring. */
  private void prime() throws Exception {
    ServiceDefinition def = definition(dir, true);
    broker.ensureRunning(def);
    broker.stop(def); // the daemon writes the broker's archive as it exits
    processNanos(javaCommand(ownArchive("hello", true), Hello.class.getName()));
    broker.ensureRunning(def);
    processNanos(launcherCommand(ownArchive("launcher", true), true));
    broker.stop(def);
  }

  /**
   * Cold spawns without class-data sharing beyond the JDK's default archive and with the broker's
   * archive (its default), beside a plain hello and a hello with an archive of its own. All four
   * run in every round, in alternating order, so that a change of load on a shared machine hits them
   * alike.
   */
  private void coldSpawns(int runs) throws Exception {
    ServiceDefinition[] defs = {definition(dir, false), definition(dir, true)};
    for (ServiceDefinition def : defs) {
      broker.ensureRunning(def); // unmeasured: loads the broker's cold path in this JVM
      broker.stop(def);
    }
    long[][] cold = new long[2][runs];
    long[] hello = new long[runs];
    long[] helloOwn = new long[runs];
    List<String> ownHello = ownArchive("hello", false);
    for (int i = 0; i < runs; i++) {
      hello[i] = processNanos(javaCommand(JVM_FLAGS, Hello.class.getName()));
      helloOwn[i] = processNanos(javaCommand(ownHello, Hello.class.getName()));
      for (int j = 0; j < 2; j++) {
        int k = (i + j) % 2;
        long start = System.nanoTime();
        DaemonInfo info = broker.ensureRunning(defs[k]);
        cold[k][i] = System.nanoTime() - start;
        if (!info.spawned()) {
          throw new IllegalStateException("run " + i + " found a running daemon instead of spawning: " + info);
        }
        broker.stop(defs[k]);
      }
    }
    put("cold", cold[0]);
    put("cds_cold", cold[1]);
    put("hello", hello);
    put("hello_own", helloOwn);
    System.err.printf("cold start: p50 %.1f ms without CDS, %.1f ms with; hello p50 %.1f ms%n",
        Percentiles.of(cold[0]).at(50) / 1e6, Percentiles.of(cold[1]).at(50) / 1e6, Percentiles.of(hello).at(50) / 1e6);
  }

  /**
   * Launchers with the daemon up, plain and with an archive of their own, beside a plain hello and a
   * hello with its own archive, in alternating order.
   */
  private void launchers(int runs) throws Exception {
    ServiceDefinition def = definition(dir, true);
    broker.ensureRunning(def);
    List<List<String>> flags = List.of(JVM_FLAGS, ownArchive("launcher", false));
    List<String> ownHello = ownArchive("hello", false);
    long[][] launcher = new long[2][runs];
    long[] hello = new long[runs];
    long[] helloOwn = new long[runs];
    for (int i = 0; i < runs; i++) {
      hello[i] = processNanos(javaCommand(JVM_FLAGS, Hello.class.getName()));
      helloOwn[i] = processNanos(javaCommand(ownHello, Hello.class.getName()));
      for (int j = 0; j < 2; j++) {
        int k = (i + j) % 2;
        launcher[k][i] = processNanos(launcherCommand(flags.get(k), true));
      }
    }
    broker.stop(def);
    put("launcher", launcher[0]);
    put("cds_launcher", launcher[1]);
    put("launcher_hello", hello);
    put("launcher_hello_own", helloOwn);
    System.err.printf("launcher: p50 %.1f ms plain, %.1f ms with its own archive; hello p50 %.1f ms%n",
        Percentiles.of(launcher[0]).at(50) / 1e6, Percentiles.of(launcher[1]).at(50) / 1e6,
        Percentiles.of(hello).at(50) / 1e6);
  }

  /**
   * Cold starts of the answering service without and with the listener hand-off, in alternating
   * order: how long {@code ensureRunning} takes, and how long from its call to the first answer on
   * the main endpoint (connect, one request line, the daemon's pid back). Then, unmeasured, the
   * round waits until the hand-off daemon serves, and stops the daemon.
   */
  private void handoffSpawns(int runs) throws Exception {
    ServiceDefinition[] defs = {answering(dir, false), answering(dir, true)};
    for (ServiceDefinition def : defs) {
      // unmeasured: loads both cold paths and the client in this JVM; the first writes the daemon's
      // archive, the second maps it (on JDK 17 the archive is written once, then only mapped)
      for (int i = 0; i < 2; i++) {
        DaemonInfo info = broker.ensureRunning(def);
        request(endpointOf(info));
        broker.awaitServing(info, PATIENT);
        broker.stop(def);
      }
    }
    long[][] ensure = new long[2][runs];
    long[][] first = new long[2][runs];
    int bound = 0;
    for (int i = 0; i < runs; i++) {
      for (int j = 0; j < 2; j++) {
        int k = (i + j) % 2;
        long start = System.nanoTime();
        DaemonInfo info = broker.ensureRunning(defs[k]);
        long returned = System.nanoTime();
        String answer = request(endpointOf(info));
        long answered = System.nanoTime();
        ensure[k][i] = returned - start;
        first[k][i] = answered - start;
        if (!info.spawned()) {
          throw new IllegalStateException("run " + i + " found a running daemon instead of spawning: " + info);
        }
        if (!answer.equals(Long.toString(info.pid()))) {
          throw new IllegalStateException("the first answer came from pid " + answer + ", not from the daemon"
              + " just spawned, pid " + info.pid());
        }
        bound += info.stage() == DaemonInfo.Stage.BOUND ? 1 : 0;
        broker.awaitServing(info, PATIENT);
        broker.stop(defs[k]);
      }
    }
    put("answer_ensure", ensure[0]);
    put("ho_ensure", ensure[1]);
    put("answer_first", first[0]);
    put("ho_first", first[1]);
    out.put("ho_bound", Integer.toString(bound));
    System.err.printf("hand-off: ensureRunning p50 %.2f ms with, %.2f ms without; first answer p50 %.1f ms with,"
        + " %.1f ms without (%d of %d returned BOUND)%n", Percentiles.of(ensure[1]).at(50) / 1e6,
        Percentiles.of(ensure[0]).at(50) / 1e6, Percentiles.of(first[1]).at(50) / 1e6,
        Percentiles.of(first[0]).at(50) / 1e6, bound, runs);
  }

  /**
   * {@code rounds} replacements of a serving daemon ({@link Broker#replace}) under a client loop
   * ({@link ClientLoop}) for each variant, without and with the hand-off, alternating. Reports the
   * failed attempts (refused, reset or ended without an answer), the connect-to-answer latencies
   * (p50 before the replacement, p99 and max over the loop), the longest time between two answers
   * and how long {@code replace} itself took.
   */
  private void replacements(int rounds, int connects) throws Exception {
    ServiceDefinition[] defs = {answering(dir, false), answering(dir, true)};
    for (ServiceDefinition def : defs) {
      broker.awaitServing(broker.ensureRunning(def), PATIENT);
    }
    long[] failures = new long[2];
    long[] attempts = new long[2];
    long[] maxGap = new long[2];
    List<List<Long>> steady = List.of(new ArrayList<>(), new ArrayList<>());
    List<List<Long>> all = List.of(new ArrayList<>(), new ArrayList<>());
    long[][] replaceCall = new long[2][rounds];
    for (int r = 0; r < rounds; r++) {
      for (int j = 0; j < 2; j++) {
        int k = (r + j) % 2;
        ClientLoop loop = new ClientLoop(endpointOf(broker.ensureRunning(defs[k])), connects);
        loop.start();
        if (!loop.warm.await(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
          loop.interrupt();
          throw new IllegalStateException("the client loop got no " + loop.warmAfter + " answers within "
              + CHILD_TIMEOUT_SECONDS + " s (" + loop.firstFailure + ")");
        }
        long start = System.nanoTime();
        DaemonInfo next = broker.replace(defs[k]);
        replaceCall[k][r] = System.nanoTime() - start;
        next = broker.awaitServing(next, PATIENT);
        loop.successor = Long.toString(next.pid());
        loop.join(TimeUnit.SECONDS.toMillis(ClientLoop.LIFETIME_SECONDS + 10));
        if (loop.isAlive() || !loop.successorAnswered) {
          throw new IllegalStateException("the client loop never got an answer from the new daemon, pid "
              + next.pid() + " (" + loop.firstFailure + ")");
        }
        failures[k] += loop.failures(start, steady.get(k), all.get(k));
        attempts[k] += loop.count;
        maxGap[k] = Math.max(maxGap[k], loop.longestGap());
        if (loop.firstFailure != null) {
          System.err.println((k == 1 ? "hand-off" : "plain") + " replacement: first failure " + loop.firstFailure);
        }
      }
    }
    for (ServiceDefinition def : defs) {
      broker.stop(def);
    }
    String[] prefix = {"replace_", "ho_replace_"};
    for (int k = 0; k < 2; k++) {
      out.put(prefix[k] + "failures", Long.toString(failures[k]));
      out.put(prefix[k] + "attempts", Long.toString(attempts[k]));
      out.put(prefix[k] + "gap_max_ms", String.format(Locale.ROOT, "%.2f", maxGap[k] / 1e6));
      if (!steady.get(k).isEmpty()) {
        out.put(prefix[k] + "steady_p50_ms", String.format(Locale.ROOT, "%.3f", percentiles(steady.get(k)).at(50) / 1e6));
      }
      if (!all.get(k).isEmpty()) {
        Percentiles p = percentiles(all.get(k));
        out.put(prefix[k] + "p99_ms", String.format(Locale.ROOT, "%.3f", p.at(99) / 1e6));
        out.put(prefix[k] + "max_ms", String.format(Locale.ROOT, "%.2f", p.max() / 1e6));
      }
      put(prefix[k] + "call", replaceCall[k]);
      System.err.printf("replacement %s: %d of %d attempts failed, longest gap %.1f ms%n",
          k == 1 ? "with hand-off" : "without", failures[k], attempts[k], maxGap[k] / 1e6);
    }
    out.put("replace_rounds", Integer.toString(rounds));
    out.put("replace_connects", Integer.toString(connects));
  }

  private static Percentiles percentiles(List<Long> values) {
    return Percentiles.of(values.stream().mapToLong(Long::longValue).toArray());
  }

  /**
   * A client that requests (connect, a line, the answer) from one endpoint as fast as it can, and
   * records every attempt: at least {@code total} of them, and on until the successor named by the
   * harness has answered once (or its lifetime of {@value #LIFETIME_SECONDS} s runs out). A failed
   * attempt is retried after 1 ms, as a client with a retry would, so that a loop that keeps failing
   * does not take a whole core from the daemon being started on a two-core machine; answered
   * requests follow each other at full speed.
   */
  private static final class ClientLoop extends Thread {
    static final long LIFETIME_SECONDS = 60;
    private static final int SPARE = 200_000; // room for failed attempts beyond the total

    private final Path endpoint;
    private final int total;
    final int warmAfter;
    final java.util.concurrent.CountDownLatch warm = new java.util.concurrent.CountDownLatch(1);
    private final long[] begin;
    private final long[] end;
    private final boolean[] ok;
    volatile String successor;
    volatile boolean successorAnswered;
    volatile String firstFailure;
    int count;

    ClientLoop(Path endpoint, int total) {
      super("bench-client-loop");
      setDaemon(true);
      this.endpoint = endpoint;
      this.total = total;
      this.warmAfter = Math.max(1, Math.min(200, total / 10));
      this.begin = new long[total + SPARE];
      this.end = new long[total + SPARE];
      this.ok = new boolean[total + SPARE];
    }

    @Override
    public void run() {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(LIFETIME_SECONDS);
      int answered = 0;
      while (count < begin.length && System.nanoTime() < deadline && !isInterrupted()) {
        if (count >= total && successorAnswered) {
          break;
        }
        long b = System.nanoTime();
        String who = null;
        try {
          who = request(endpoint);
        } catch (IOException e) {
          if (firstFailure == null) {
            firstFailure = e.toString();
          }
        }
        begin[count] = b;
        end[count] = System.nanoTime();
        ok[count] = who != null;
        count++;
        if (who == null) {
          java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
          continue;
        }
        if (++answered == warmAfter) {
          warm.countDown();
        }
        if (who.equals(successor)) {
          successorAnswered = true;
        }
      }
    }

    /**
     * Adds the latencies of answered attempts to {@code all}, and of those begun before
     * {@code replaceStart} to {@code steady}; returns the number of failed attempts. After join.
     */
    long failures(long replaceStart, List<Long> steady, List<Long> all) {
      long failed = 0;
      for (int i = 0; i < count; i++) {
        if (!ok[i]) {
          failed++;
          continue;
        }
        all.add(end[i] - begin[i]);
        if (begin[i] < replaceStart) {
          steady.add(end[i] - begin[i]);
        }
      }
      return failed;
    }

    /** The longest time between two answers (from the first attempt's start to the first answer, too). After join. */
    long longestGap() {
      long gap = 0;
      long previous = count > 0 ? begin[0] : 0;
      for (int i = 0; i < count; i++) {
        if (ok[i]) {
          gap = Math.max(gap, end[i] - previous);
          previous = end[i];
        }
      }
      return gap;
    }
  }

  /** The daemon's main endpoint as a path (a Unix socket on this machine). */
  private static Path endpointOf(DaemonInfo info) {
    return info.endpoint().path().orElseThrow(() -> new IllegalStateException("not a Unix socket: " + info.endpoint()));
  }

  private static final byte[] REQUEST = "request\n".getBytes(StandardCharsets.US_ASCII);

  /**
   * One request on a daemon's main endpoint: connect, a line, the answer line (the daemon's pid),
   * then close. Throws when the connection is refused or reset, or ends without an answer. A read
   * can wait at most as long as the daemon lives ({@code --lifetime}), which bounds it.
   */
  static String request(Path endpoint) throws IOException {
    try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      c.connect(UnixDomainSocketAddress.of(endpoint));
      ByteBuffer w = ByteBuffer.wrap(REQUEST);
      while (w.hasRemaining()) {
        c.write(w);
      }
      ByteBuffer b = ByteBuffer.allocate(32);
      while (b.hasRemaining()) {
        if (c.read(b) < 0) {
          throw new IOException("end of stream without an answer from " + endpoint);
        }
        if (b.get(b.position() - 1) == '\n') {
          return new String(b.array(), 0, b.position() - 1, StandardCharsets.US_ASCII);
        }
      }
      throw new IOException("an answer longer than a pid from " + endpoint);
    }
  }

  /**
   * {@code rounds} races of {@code n} launcher processes started at once on a stopped service, for
   * the answering service without and with the hand-off, alternating. Each race reports the wall time
   * until every launcher has printed its daemon, until every launcher has exited (a launcher that
   * spawned with the hand-off waits at exit until the daemon has taken the socket), and how many
   * distinct daemons the launchers name (one is right).
   */
  private void races(int n, int rounds) throws Exception {
    ServiceDefinition[] defs = {answering(dir, false), answering(dir, true)};
    String[] variant = {"plain", "handoff"};
    long[][] printed = new long[2][rounds];
    long[][] exited = new long[2][rounds];
    int[] daemons = new int[2];
    int[] failed = new int[2];
    for (int r = 0; r < rounds; r++) {
      for (int j = 0; j < 2; j++) {
        int k = (r + j) % 2;
        broker.stop(defs[k]);
        long[] result = raceOnce(n, variant[k]);
        broker.stop(defs[k]);
        printed[k][r] = result[0];
        exited[k][r] = result[1];
        daemons[k] = Math.max(daemons[k], (int) result[2]);
        failed[k] += (int) result[3];
      }
    }
    out.put("race_n", Integer.toString(n));
    out.put("race_rounds", Integer.toString(rounds));
    String[] prefix = {"race_", "ho_race_"};
    for (int k = 0; k < 2; k++) {
      put(prefix[k] + "printed", printed[k]);
      put(prefix[k] + "exited", exited[k]);
      out.put(prefix[k] + "daemons", Integer.toString(daemons[k]));
      out.put(prefix[k] + "failed", Integer.toString(failed[k]));
      System.err.printf("race of %d launchers %s hand-off: all printed p50 %.1f ms, all exited p50 %.1f ms,"
          + " at most %d daemon(s), %d failed%n", n, k == 1 ? "with" : "without",
          Percentiles.of(printed[k]).at(50) / 1e6, Percentiles.of(exited[k]).at(50) / 1e6, daemons[k], failed[k]);
    }
  }

  /**
   * One race: {@code n} launchers started at once, each one's output read as it comes. Returns the
   * nanoseconds until all printed their daemon and until all exited, the number of distinct daemons
   * named, and the number of launchers that failed (timed out, exited non-zero or printed nothing).
   */
  private long[] raceOnce(int n, String variant) throws Exception {
    List<Process> launchers = new ArrayList<>();
    List<Thread> readers = new ArrayList<>();
    long[] printedAt = new long[n];
    String[] named = new String[n];
    long start = System.nanoTime();
    for (int i = 0; i < n; i++) {
      Process p = new ProcessBuilder(launcherCommand(JVM_FLAGS, true, variant)).redirectErrorStream(true)
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
      launchers.add(p);
      int slot = i;
      Thread reader = new Thread(() -> {
        try (java.io.BufferedReader in = new java.io.BufferedReader(
            new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
          for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (named[slot] == null && (line.startsWith("spawned ") || line.startsWith("reused "))) {
              printedAt[slot] = System.nanoTime();
              named[slot] = line.substring(line.indexOf(' ') + 1).trim();
            }
          }
        } catch (IOException e) {
          // the launcher's output ended: it was killed
        }
      }, "bench-race-reader");
      reader.setDaemon(true);
      reader.start();
      readers.add(reader);
    }
    int failed = 0;
    for (Process p : launchers) {
      if (!p.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(5, TimeUnit.SECONDS);
        failed++;
      } else if (p.exitValue() != 0) {
        failed++;
      }
    }
    long exited = System.nanoTime() - start;
    for (Thread t : readers) {
      t.join(5_000);
    }
    Set<String> pids = new HashSet<>();
    long lastPrint = start;
    for (int i = 0; i < n; i++) {
      if (named[i] == null) {
        failed++;
        continue;
      }
      pids.add(named[i]);
      lastPrint = Math.max(lastPrint, printedAt[i]);
    }
    return new long[] {lastPrint - start, exited, pids.size(), failed};
  }

  private void put(String key, long[] nanos) {
    Percentiles p = Percentiles.of(nanos);
    out.put(key + "_p50_ms", String.format(Locale.ROOT, "%.2f", p.at(50) / 1e6));
    out.put(key + "_p90_ms", String.format(Locale.ROOT, "%.2f", p.at(90) / 1e6));
    out.put(key + "_max_ms", String.format(Locale.ROOT, "%.2f", p.max() / 1e6));
  }

  private List<String> javaCommand(List<String> flags, String mainClass, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(flags);
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(mainClass);
    cmd.addAll(List.of(args));
    return cmd;
  }

  /** A {@link Launcher} JVM with {@code jvmFlags}, for the daemon with or without the broker's archive. */
  private List<String> launcherCommand(List<String> jvmFlags, boolean sharing) {
    return javaCommand(jvmFlags, Launcher.class.getName(), dir.toString(), sharing ? "on" : "off");
  }

  /** A {@link Launcher} JVM for the answering service, {@code variant} {@code handoff} or {@code plain}. */
  private List<String> launcherCommand(List<String> jvmFlags, boolean sharing, String variant) {
    return javaCommand(jvmFlags, Launcher.class.getName(), dir.toString(), sharing ? "on" : "off", variant);
  }

  /** Starts {@code command}, waits for it to exit (bounded), and returns the elapsed nanoseconds. */
  private long processNanos(List<String> command) throws IOException, InterruptedException {
    long start = System.nanoTime();
    Process p = start(command);
    String output = finish(p);
    long elapsed = System.nanoTime() - start;
    if (p.exitValue() != 0) {
      throw new IOException("exit status " + p.exitValue() + " from " + command + ":\n" + output);
    }
    return elapsed;
  }

  /** Starts {@code command} with no input and its output in a file of the harness directory. */
  private Process start(List<String> command) throws IOException {
    Path output = Files.createTempFile(dir, "out", ".txt");
    Process p = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(output.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    outputs.put(p, output);
    return p;
  }

  /** Waits for exit within the child timeout (killing the process if it runs out); returns its output. */
  private String finish(Process p) throws IOException, InterruptedException {
    if (!p.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      p.waitFor(5, TimeUnit.SECONDS);
      throw new IOException("child " + p.pid() + " did not exit within " + CHILD_TIMEOUT_SECONDS + " s; killed");
    }
    Path output = outputs.remove(p);
    String text = Files.readString(output, StandardCharsets.UTF_8);
    Files.deleteIfExists(output);
    return text;
  }

  private void stopQuietly() {
    for (ServiceDefinition def : List.of(definition(dir, true), answering(dir, false), answering(dir, true))) {
      try {
        if (Files.isDirectory(dir)) {
          broker.stop(def);
        }
      } catch (IOException | RuntimeException e) {
        System.err.println("stopping the harness daemon " + def + ": " + e);
      }
    }
  }
}
