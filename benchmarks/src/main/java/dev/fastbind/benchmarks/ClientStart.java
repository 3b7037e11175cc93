package dev.fastbind.benchmarks;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonClient;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The client harness: what a launcher making one client call costs, and what an idle SDK daemon
 * holds in memory, each beside a bare JVM doing the same with the JDK alone, measured from outside.
 *
 * <ol>
 *   <li><b>client launcher</b>: with a {@link LaunchDaemon} already up, the wall time from start to
 *       exit of a fresh {@link ClientLauncher} JVM (one {@link DaemonClient#call(byte[])}) beside a
 *       fresh {@link RawLauncher} JVM (a raw connect to the same endpoint and the same exchange) and a
 *       {@link Hello} JVM, same JDK, flags and class path, in rotating order per round. Then one run
 *       of each launcher with {@code -Xlog:class+load}: how many classes each loads, and how many of
 *       them were not in a class-data sharing archive (parsed from a jar or the JDK's modules).
 *   <li><b>idle memory</b>: VmRSS from {@code /proc/<pid>/status} of a {@link LaunchDaemon} the
 *       broker spawned (its JVM options the same as the bare one's: the broker's archive off) and of a
 *       {@link BareDaemon} started directly, after both answered the same warm-up (connections with
 *       a few requests each) and went idle: read until it stops changing. The same for the daemon
 *       with the broker's default archive, for information.
 * </ol>
 *
 * <p>Run it with the thin SDK class path. Arguments: {@code --runs=N} launcher rounds (default 20),
 * {@code --smaps=DIR} (copies of the idle daemons' {@code /proc/<pid>/smaps} go there),
 * {@code --archived} (both launchers also with a dynamic CDS archive of their own, in the same rounds),
 * {@code --warm=N} warm-up connections per daemon (default 50). Output: one {@code key=value} line
 * per figure on stdout, progress on stderr. Every child is waited for with a timeout and killed when
 * it runs out; daemons halt on their own after two minutes in any case.
 */
public final class ClientStart {

  private static final long CHILD_TIMEOUT_SECONDS = 30;
  private static final int REQUESTS_PER_WARM_CONNECTION = 4;
  private static final long SETTLE_POLL_MILLIS = 100;
  private static final int SETTLE_STABLE_READINGS = 5;
  private static final long SETTLE_MAX_MILLIS = 5_000;

  private final Path dir;
  private final Broker broker = Broker.create();
  private final Map<String, String> out = new LinkedHashMap<>();
  /** Where the idle daemons' {@code /proc/<pid>/smaps} are copied for a closer look; none when null. */
  private Path smapsDir;

  private ClientStart(Path dir) {
    this.dir = dir;
  }

  /** Runs the harness; see the type's documentation. */
  public static void main(String[] args) throws Exception {
    int runs = 20;
    int warm = 50;
    boolean archived = false;
    Path smaps = null;
    for (String a : args) {
      if (a.startsWith("--runs=")) {
        runs = Integer.parseInt(a.substring("--runs=".length()));
      } else if (a.startsWith("--smaps=")) {
        smaps = Path.of(a.substring("--smaps=".length()));
      } else if (a.equals("--archived")) {
        archived = true;
      } else if (a.startsWith("--warm=")) {
        warm = Integer.parseInt(a.substring("--warm=".length()));
      } else {
        throw new IllegalArgumentException("unknown argument " + a);
      }
    }
    if (!Arrays.asList(ClientLauncher.JVM_FLAGS).equals(ColdStart.JVM_FLAGS)) {
      throw new IllegalStateException("ClientLauncher.JVM_FLAGS " + Arrays.toString(ClientLauncher.JVM_FLAGS)
          + " differ from ColdStart.JVM_FLAGS " + ColdStart.JVM_FLAGS + ": make them equal");
    }
    Path dir = SocketDirectory.create("fb-client");
    ClientStart harness = new ClientStart(dir);
    harness.smapsDir = smaps;
    try {
      long t = System.nanoTime();
      harness.launchers(runs, archived);
      t = took("client launchers", t);
      harness.idleMemory(warm);
      took("idle memory", t);
    } finally {
      harness.stopQuietly();
      SocketDirectory.deleteTree(dir);
    }
    harness.out.forEach((k, v) -> System.out.println(k + "=" + v));
  }

  private static long took(String what, long since) {
    long now = System.nanoTime();
    System.err.printf("(%s took %.1f s)%n", what, (now - since) / 1e9);
    return now;
  }

  private void launchers(int runs, boolean archived) throws Exception {
    ServiceDefinition def = ClientLauncher.definition(dir, true);
    broker.ensureRunning(def);
    broker.stop(def); // the daemon writes the broker's archive as it exits
    DaemonInfo info = broker.ensureRunning(def);
    String endpoint = endpointOf(info).toString();
    List<List<String>> commands = new ArrayList<>(List.of(
        javaCommand(ColdStart.JVM_FLAGS, Hello.class.getName()),
        javaCommand(ColdStart.JVM_FLAGS, RawLauncher.class.getName(), endpoint),
        javaCommand(ColdStart.JVM_FLAGS, ClientLauncher.class.getName(), dir.toString())));
    List<String> expected = new ArrayList<>(List.of("hello", "64", "64"));
    if (archived) {
      // each launcher with a dynamic CDS archive of its own, written by an unmeasured run
      for (String writing : List.of("true", "false")) {
        List<List<String>> primed = List.of(
            javaCommand(ownArchive("raw", writing.equals("true")), RawLauncher.class.getName(), endpoint),
            javaCommand(ownArchive("client", writing.equals("true")), ClientLauncher.class.getName(), dir.toString()));
        if (writing.equals("true")) {
          for (List<String> c : primed) {
            run(c);
          }
        } else {
          commands.addAll(primed);
          expected.addAll(List.of("64", "64"));
        }
      }
    }
    for (int k = 0; k < commands.size(); k++) { // unmeasured: the page cache, and a check of the output
      String printed = run(commands.get(k)).trim();
      if (!printed.equals(expected.get(k))) {
        throw new IllegalStateException(commands.get(k) + " printed " + printed + ", not " + expected.get(k));
      }
    }
    long[][] nanos = new long[commands.size()][runs];
    for (int i = 0; i < runs; i++) {
      for (int j = 0; j < commands.size(); j++) {
        int k = (i + j) % commands.size();
        long start = System.nanoTime();
        run(commands.get(k));
        nanos[k][i] = System.nanoTime() - start;
      }
    }
    put("client_hello", nanos[0]);
    put("client_raw", nanos[1]);
    put("client_launcher", nanos[2]);
    if (archived) {
      put("client_raw_cds", nanos[3]);
      put("client_launcher_cds", nanos[4]);
    }
    classLoads("client_raw", javaCommand(withClassLog(), RawLauncher.class.getName(), endpoint));
    classLoads("client_launcher", javaCommand(withClassLog(), ClientLauncher.class.getName(), dir.toString()));
    broker.stop(def);
    System.err.printf("client launcher: p50 %.1f ms, raw connect and exchange %.1f ms, hello %.1f ms%n",
        Percentiles.of(nanos[2]).at(50) / 1e6, Percentiles.of(nanos[1]).at(50) / 1e6,
        Percentiles.of(nanos[0]).at(50) / 1e6);
  }

  /**
   * The harness's JVM flags with a dynamic CDS archive of its own for {@code role}: created and
   * refreshed by the JVM on JDK 19+; on 17 written by a run with {@code writing} set, then mapped.
   */
  private List<String> ownArchive(String role, boolean writing) {
    List<String> flags = new ArrayList<>(ColdStart.JVM_FLAGS);
    Path archive = dir.resolve(role + ".jsa");
    if (Runtime.version().feature() >= 19) {
      flags.add("-XX:+AutoCreateSharedArchive");
      flags.add("-XX:SharedArchiveFile=" + archive);
    } else {
      flags.add((writing ? "-XX:ArchiveClassesAtExit=" : "-XX:SharedArchiveFile=") + archive);
    }
    flags.add("-Xlog:cds*=off");
    return flags;
  }

  private static List<String> withClassLog() {
    List<String> flags = new ArrayList<>(ColdStart.JVM_FLAGS);
    flags.add("-Xlog:class+load=info:stdout");
    return flags;
  }

  /** One run with the class-load log: classes loaded, and those not from a shared archive. */
  private void classLoads(String key, List<String> command) throws Exception {
    int all = 0;
    int unshared = 0;
    for (String line : run(command).split("\n")) {
      if (line.contains("[class,load]")) {
        all++;
        if (!line.contains("shared objects file")) {
          unshared++;
        }
      }
    }
    out.put(key + "_classes", Integer.toString(all));
    out.put(key + "_classes_unshared", Integer.toString(unshared));
  }

  /**
   * The SDK daemon (its archive off, so its JVM options equal the bare one's; then the broker's
   * default, its archive on) and the bare daemon, warmed alike, then their resident sets when idle.
   */
  private void idleMemory(int warm) throws Exception {
    Path barePath = dir.resolve("bare.sock");
    Process bare = new ProcessBuilder(javaCommand(ColdStart.JVM_FLAGS, BareDaemon.class.getName(),
        barePath.toString(), "--lifetime=120"))
        .redirectErrorStream(true).redirectOutput(dir.resolve("bare.out").toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    try {
      ServiceDefinition plain = ClientLauncher.definition(dir, false);
      DaemonInfo sdk = broker.ensureRunning(plain);
      awaitSocket(barePath, bare);
      warmUp(plain, barePath, warm);
      long[] sdkStatus = settled(sdk.pid());
      long[] bareStatus = settled(bare.pid());
      keepSmaps("idle-sdk", sdk.pid());
      keepSmaps("idle-bare", bare.pid());
      broker.stop(plain);
      ServiceDefinition shared = ClientLauncher.definition(dir, true); // its archive written by launchers()
      DaemonInfo sdkShared = broker.ensureRunning(shared);
      warmUp(shared, null, warm);
      long[] sharedStatus = settled(sdkShared.pid());
      broker.stop(shared);
      putStatus("idle_sdk", sdkStatus);
      putStatus("idle_bare", bareStatus);
      putStatus("idle_sdk_cds", sharedStatus);
      System.err.printf("idle RSS: SDK daemon %d KiB (%d threads), bare %d KiB (%d threads), SDK with its archive %d KiB%n",
          sdkStatus[0], sdkStatus[3], bareStatus[0], bareStatus[3], sharedStatus[0]);
    } finally {
      bare.destroyForcibly();
      bare.waitFor(5, TimeUnit.SECONDS);
    }
  }

  private void keepSmaps(String name, long pid) throws IOException {
    if (smapsDir != null) {
      Files.createDirectories(smapsDir);
      Files.copy(Path.of("/proc", Long.toString(pid), "smaps"),
          smapsDir.resolve(name + "-jdk" + Runtime.version().feature() + ".smaps"),
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private void putStatus(String key, long[] status) {
    out.put(key + "_rss_kib", Long.toString(status[0]));
    out.put(key + "_rss_anon_kib", Long.toString(status[1]));
    out.put(key + "_rss_file_kib", Long.toString(status[2]));
    out.put(key + "_threads", Long.toString(status[3]));
  }

  /** {@code warm} connections of a few requests each to the SDK daemon (through a client) and the bare one. */
  private void warmUp(ServiceDefinition def, Path bare, int warm) throws IOException {
    byte[] payload = new byte[ClientLauncher.PAYLOAD_BYTES];
    Arrays.fill(payload, (byte) 'p');
    ByteBuffer frame = ByteBuffer.allocate(5 + payload.length);
    frame.putInt(payload.length).put((byte) 0x01).put(payload).flip();
    for (int i = 0; i < warm; i++) {
      try (DaemonClient client = DaemonClient.create(broker, def)) { // a new client: a new connection
        for (int r = 0; r < REQUESTS_PER_WARM_CONNECTION; r++) {
          if (client.call(payload).length != payload.length) {
            throw new IllegalStateException("the SDK daemon did not echo");
          }
        }
      }
      if (bare == null) {
        continue;
      }
      try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        c.connect(UnixDomainSocketAddress.of(bare));
        for (int r = 0; r < REQUESTS_PER_WARM_CONNECTION; r++) {
          ByteBuffer w = frame.duplicate();
          while (w.hasRemaining()) {
            c.write(w);
          }
          ByteBuffer answer = ByteBuffer.allocate(frame.limit());
          while (answer.hasRemaining()) {
            if (c.read(answer) < 0) {
              throw new IOException("the bare daemon closed the connection before its answer");
            }
          }
        }
      }
    }
  }

  /** Waits (bounded) until the bare daemon accepts on {@code path}. */
  private static void awaitSocket(Path path, Process bare) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CHILD_TIMEOUT_SECONDS);
    while (true) {
      try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        c.connect(UnixDomainSocketAddress.of(path));
        return;
      } catch (IOException notYet) {
        if (!bare.isAlive() || System.nanoTime() > deadline) {
          throw new IOException("the bare daemon does not accept on " + path + " (alive: " + bare.isAlive() + ")", notYet);
        }
        Thread.sleep(10); // polling a condition with a deadline
      }
    }
  }

  /**
   * VmRSS, RssAnon, RssFile (KiB) and Threads of {@code pid} once VmRSS has not changed for
   * {@value #SETTLE_STABLE_READINGS} readings {@value #SETTLE_POLL_MILLIS} ms apart (at most
   * {@value #SETTLE_MAX_MILLIS} ms: the last reading then).
   */
  private static long[] settled(long pid) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(SETTLE_MAX_MILLIS);
    long[] last = status(pid);
    int stable = 1;
    while (stable < SETTLE_STABLE_READINGS && System.nanoTime() < deadline) {
      Thread.sleep(SETTLE_POLL_MILLIS); // sampling an idle process, not waiting for an event
      long[] now = status(pid);
      stable = now[0] == last[0] ? stable + 1 : 1;
      last = now;
    }
    return last;
  }

  private static long[] status(long pid) throws IOException {
    long[] values = new long[4];
    String[] keys = {"VmRSS:", "RssAnon:", "RssFile:", "Threads:"};
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < keys.length; i++) {
        if (line.startsWith(keys[i])) {
          values[i] = Long.parseLong(line.substring(keys[i].length()).trim().split("\\s+")[0]);
        }
      }
    }
    return values;
  }

  private static Path endpointOf(DaemonInfo info) {
    return info.endpoint().path().orElseThrow(() -> new IllegalStateException("not a Unix socket: " + info.endpoint()));
  }

  private void put(String key, long[] nanos) {
    Percentiles p = Percentiles.of(nanos);
    out.put(key + "_p50_ms", String.format(Locale.ROOT, "%.2f", p.at(50) / 1e6));
    out.put(key + "_p90_ms", String.format(Locale.ROOT, "%.2f", p.at(90) / 1e6));
    out.put(key + "_max_ms", String.format(Locale.ROOT, "%.2f", p.max() / 1e6));
  }

  private static List<String> javaCommand(List<String> flags, String mainClass, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(flags);
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(mainClass);
    cmd.addAll(List.of(args));
    return cmd;
  }

  /** Runs {@code command} to its exit (bounded; killed when it runs out); returns its output. */
  private String run(List<String> command) throws IOException, InterruptedException {
    Path output = Files.createTempFile(dir, "out", ".txt");
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
      if (!p.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(5, TimeUnit.SECONDS);
        throw new IOException("child " + p.pid() + " did not exit within " + CHILD_TIMEOUT_SECONDS + " s; killed");
      }
      String text = Files.readString(output, StandardCharsets.UTF_8);
      if (p.exitValue() != 0) {
        throw new IOException("exit status " + p.exitValue() + " from " + command + ":\n" + text);
      }
      return text;
    } finally {
      Files.deleteIfExists(output);
    }
  }

  private void stopQuietly() {
    for (ServiceDefinition def : List.of(ClientLauncher.definition(dir, true), ClientLauncher.definition(dir, false))) {
      try {
        if (Files.isDirectory(dir)) {
          broker.stop(def);
        }
      } catch (IOException | RuntimeException e) {
        System.err.println("stopping the client harness daemon " + def + ": " + e);
      }
    }
  }
}
