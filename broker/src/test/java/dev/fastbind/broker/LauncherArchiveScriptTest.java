package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import dev.fastbind.testsupport.Signals;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code fastbind-java}, the launcher wrapper shipped in the broker jar
 * ({@code META-INF/fastbind/fastbind-java}), run for real with bash on the JDK running the tests
 * (a dynamic CDS archive on 17-24, an AOT cache on 25+) and a tiny launcher main
 * ({@link ArchiveScriptMain}) in a jar made here. Whether the JVM mapped the archive is read from
 * its own {@code -Xlog:class+load} ("source: shared objects file"), which the wrapper leaves out of
 * the archive's key, so a run can be watched without changing which archive it uses.
 */
@RequiresCapability(Capability.BASH)
class LauncherArchiveScriptTest {

  private static final String MAIN = ArchiveScriptMain.class.getName();
  private static final Path JDK17 = Path.of("/usr/lib/jvm/java-17-openjdk-amd64");
  private static final Path JDK25 = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");
  private static final Duration RUN_BOUND = Duration.ofSeconds(90);

  @TempDir Path tmp;
  private Path jar;
  private Path dir;
  private Path jdk;
  private int logs;

  @BeforeEach
  void jarAndDirectory() throws IOException {
    jdk = Path.of(System.getProperty("java.home"));
    jar = tmp.resolve("app.jar");
    pack(jar, 0);
    dir = tmp.resolve("archives");
  }

  /** What one run printed and returned. */
  record Run(int status, String out, String err) {}

  // ---------------------------------------------------------------- the archive's life

  @Test
  void theFirstRunWritesTheArchiveAndTheSecondMapsIt() throws Exception {
    Run plain = plain(jdk, "a b", "", "*", "q'\"$HOME");
    assertEquals(new Run(0, "main [a b] [] [*] [q'\"$HOME]\n", "err\n"), plain);
    assertEquals(plain, run(jdk, "a b", "", "*", "q'\"$HOME"), "first run: the program's own output and status");
    Path archive = onlyArchive();
    assertTrue(archive.getFileName().toString().matches("app\\.[0-9]+-[0-9a-f]{16}\\." + extension(jdk)), archive.toString());
    assertTrue(Files.isRegularFile(meta(archive)), "the side file with the archive's size and identity");
    assertEquals(List.of(), leftovers());
    assertEquals("700", mode(dir), "the archive directory is owner-only");

    assertTrue(loadedFrom(jdk).startsWith("shared objects file"), "the second run maps the archive");
    assertEquals(plain, run(jdk, "a b", "", "*", "q'\"$HOME"), "later runs: the program's own output and status");
    assertEquals(archive, onlyArchive());
  }

  @Test
  void withoutTheWrapperTheMainClassComesFromTheJar() throws Exception {
    // The proof above is only a proof if a plain run says something else.
    Path log = tmp.resolve("plain-load.txt");
    List<String> cmd = new ArrayList<>(List.of(java(jdk).toString(), "-Xlog:class+load:file=" + log));
    cmd.addAll(javaArgs());
    assertEquals(0, exec(cmd, Map.of(), null).status());
    assertTrue(source(log).startsWith("file:"), source(log));
  }

  @Test
  void aFailingProgramKeepsItsStatusAndLeavesNoArchive() throws Exception {
    assertEquals(new Run(3, "main [exit=3]\n", "err\n"), run(jdk, "exit=3"));
    assertEquals(List.of(), archives());
    assertEquals(List.of(), leftovers());
    assertEquals(List.of(), filesEndingWith(".failed"), "a failing program is not a failure to archive");
    assertEquals(0, run(jdk).status());
    assertEquals(1, archives().size(), "the next run that exits 0 writes it");
  }

  @Test
  void stdinReachesTheProgramOnTheFirstAndLaterRuns() throws Exception {
    String input = "line one\n\ttwo  \u00e9\n";
    Run first = run(jdk, Map.of(), input, "stdin");
    assertEquals(new Run(0, "main [stdin]\n" + input, "err\n"), first);
    assertEquals(first, run(jdk, Map.of(), input, "stdin"));
    assertEquals(1, archives().size());
  }

  @Test
  void aRebuiltOrTouchedJarGetsANewArchiveAndTheStaleOneIsRemoved() throws Exception {
    run(jdk);
    Path first = onlyArchive();
    pack(jar, 1); // a new file with one more entry: new inode, size and time
    assertEquals(new Run(0, "main\n", "err\n"), run(jdk));
    Path rebuilt = onlyArchive();
    assertNotEquals(first, rebuilt);
    assertFalse(Files.exists(first, LinkOption.NOFOLLOW_LINKS), "the stale archive is removed");
    assertFalse(Files.exists(meta(first), LinkOption.NOFOLLOW_LINKS));
    assertTrue(loadedFrom(jdk).startsWith("shared objects file"));

    Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 2000));
    assertEquals(new Run(0, "main\n", "err\n"), run(jdk));
    Path touched = onlyArchive();
    assertNotEquals(rebuilt, touched);
    assertTrue(loadedFrom(jdk).startsWith("shared objects file"));
    assertEquals(List.of(), leftovers());
  }

  @Test
  void otherJvmOptionsGetTheirOwnArchive() throws Exception {
    run(jdk);
    run(jdk, Map.of(), null, List.of("-Xmx48m"));
    assertEquals(2, archives().size(), "options shape what is archived: each set keeps its own");
  }

  @Test
  void eachJdkKeepsItsOwnArchive() throws Exception {
    Path other = feature(jdk) >= 25 ? JDK17 : JDK25;
    assumeTrue(Files.isExecutable(java(other)), "needs a second JDK at " + other);
    Run plain = plain(jdk, "x");
    assertEquals(plain, run(jdk, "x"));
    assertEquals(plain, run(other, "x"));
    assertEquals(2, archives().size(), archives().toString());
    assertTrue(loadedFrom(jdk).startsWith("shared objects file"));
    assertTrue(loadedFrom(other).startsWith("shared objects file"));
    assertEquals(2, archives().size(), "neither JDK's run removed the other's");
    assertEquals(List.of(extension(JDK17), extension(JDK25)).stream().sorted().collect(Collectors.toList()),
        archives().stream().map(p -> p.toString().substring(p.toString().lastIndexOf('.') + 1)).sorted()
            .collect(Collectors.toList()));
  }

  @Test
  void aClassPathWithADirectoryRunsWithoutAnArchive() throws Exception {
    Path classes = Files.createDirectory(tmp.resolve("classes"));
    List<String> args = List.of("-XX:TieredStopAtLevel=1", "-cp", jar + File.pathSeparator + classes, MAIN, "d");
    Run first = runArgs(jdk, Map.of(), null, args);
    assertEquals(new Run(0, "main [d]\n", "err\n"), first);
    assertEquals(first, runArgs(jdk, Map.of(), null, args));
    assertEquals(List.of(), archives(), "the JVM archives classes from jars only");
  }

  @Test
  void aClassPathWithAFileThatIsNotAJarRunsWithoutAnArchive() throws Exception {
    // Maven's build-classpath lists a pom-type dependency's .pom: the JVM would make an archive it then
    // refuses for this class path, once the class loader has opened the .pom.
    Path pom = Files.writeString(tmp.resolve("dependency-1.0.pom"), "<project/>\n");
    List<String> args = List.of("-XX:TieredStopAtLevel=1", "-cp", jar + File.pathSeparator + pom, MAIN, "p");
    Run first = runArgs(jdk, Map.of(), null, args);
    assertEquals(new Run(0, "main [p]\n", "err\n"), first);
    assertEquals(first, runArgs(jdk, Map.of(), null, args));
    assertEquals(List.of(), archives(), "no archive the JVM would refuse");
  }

  @Test
  void fourConcurrentFirstRunsAllSucceedAndLeaveOneArchive() throws Exception {
    List<Process> runs = new ArrayList<>();
    List<Path> outs = new ArrayList<>();
    try {
      for (int i = 0; i < 4; i++) {
        Path out = tmp.resolve("concurrent-" + i + ".out");
        outs.add(out);
        runs.add(processBuilder(jdk, Map.of(), wrapperArgs(javaArgs("n" + i))).redirectOutput(out.toFile())
            .redirectError(tmp.resolve("concurrent-" + i + ".err").toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start());
      }
      for (int i = 0; i < 4; i++) {
        assertTrue(runs.get(i).waitFor(RUN_BOUND.toSeconds(), TimeUnit.SECONDS), "run " + i + " did not finish");
        assertEquals(0, runs.get(i).exitValue(), "run " + i);
        assertEquals("main [n" + i + "]\n", Files.readString(outs.get(i)));
        assertEquals("err\n", Files.readString(tmp.resolve("concurrent-" + i + ".err")));
      }
    } finally {
      for (Process p : runs) {
        Cleanup.killTree(p);
      }
    }
    assertEquals(1, archives().size(), () -> "archives: " + archives());
    assertEquals(List.of(), leftovers());
    assertTrue(loadedFrom(jdk).startsWith("shared objects file"));
  }

  @Test
  void onJdk25TheCacheIsMadeInTheBackgroundAfterTheProgramExited() throws Exception {
    assumeTrue(feature(jdk) >= 25, "the AOT cache is made on JDK 25 and later");
    Map<String, String> background = new HashMap<>();
    background.put("FASTBIND_JAVA_CREATE", "background");
    assertEquals(new Run(0, "main\n", "err\n"), run(jdk, background, null));
    Await.until(Duration.ofSeconds(60), () -> archives().size() == 1 && leftovers().isEmpty(),
        () -> "the cache made in the background: " + listing());
    assertTrue(loadedFrom(jdk).startsWith("shared objects file"));
  }

  // ---------------------------------------------------------------- never trusted when damaged

  @Test
  void aTruncatedEmptyOrOverwrittenArchiveIsNeverMappedAndIsRebuilt() throws Exception {
    run(jdk);
    Path archive = onlyArchive();
    long size = Files.size(archive);
    Random random = new Random(42);
    for (String damage : List.of("truncated", "empty", "garbage after the header")) {
      writable(archive);
      try (FileChannel ch = FileChannel.open(archive, StandardOpenOption.WRITE)) {
        switch (damage) {
          case "truncated" -> ch.truncate(Files.size(archive) / 2);
          case "empty" -> ch.truncate(0);
          default -> {
            byte[] garbage = new byte[(int) size - 4096];
            random.nextBytes(garbage);
            ch.write(ByteBuffer.wrap(garbage), 4096);
          }
        }
      }
      if (damage.startsWith("garbage")) {
        assertEquals(size, Files.size(archive), "same size as the good archive");
      }
      assertEquals(new Run(0, "main\n", "err\n"), run(jdk), damage + ": the program runs, no warning");
      Path rebuilt = onlyArchive();
      assertEquals(archive, rebuilt, damage + ": the same key");
      assertTrue(Files.size(rebuilt) > 4096, damage + ": rebuilt");
      assertTrue(loadedFrom(jdk).startsWith("shared objects file"), damage + ": the rebuilt archive is mapped");
      size = Files.size(rebuilt);
    }
    assertEquals(List.of(), leftovers());
  }

  @Test
  void anArchiveOverwrittenWithItsTimeRestoredIsCaughtByTheFullCheck() throws Exception {
    run(jdk);
    Path archive = onlyArchive();
    FileTime time = Files.getLastModifiedTime(archive);
    writable(archive);
    byte[] garbage = new byte[(int) Files.size(archive) - 8192];
    new Random(7).nextBytes(garbage);
    try (FileChannel ch = FileChannel.open(archive, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(garbage), 8192);
    }
    Files.setPosixFilePermissions(archive, PosixFilePermissions.fromString("r--r--r--"));
    Files.setLastModifiedTime(archive, time); // size, inode and time as recorded: only the CRC differs
    assertEquals(new Run(0, "main\n", "err\n"), run(jdk, Map.of("FASTBIND_JAVA_VERIFY", "1"), null));
    assertTrue(loadedFrom(jdk).startsWith("shared objects file"), "rebuilt and mapped");
  }

  @Test
  void aLinkInTheArchivesPlaceIsNeitherFollowedNorRemoved() throws Exception {
    run(jdk);
    Path archive = onlyArchive();
    for (Path slot : List.of(archive, meta(archive))) {
      Path saved = tmp.resolve("saved");
      Files.move(slot, saved);
      Path target = Files.writeString(tmp.resolve("target"), "someone else's file");
      Files.createSymbolicLink(slot, target);
      Run r = run(jdk);
      assertEquals(0, r.status());
      assertEquals("main\n", r.out());
      assertOneWarning(r.err(), slot);
      assertTrue(Files.isSymbolicLink(slot), "not removed");
      assertEquals("someone else's file", Files.readString(target), "not written through");
      Files.delete(slot);
      Files.move(saved, slot);
    }
    assertTrue(loadedFrom(jdk).startsWith("shared objects file"), "the archive put back is used again");
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoInTheArchivesPlaceNeitherBlocksTheLauncherNorIsRemoved() throws Exception {
    run(jdk);
    Path archive = onlyArchive();
    Files.delete(archive);
    Process mkfifo = new ProcessBuilder(Capability.MKFIFO.executable().toString(), archive.toString()).start();
    assertTrue(mkfifo.waitFor(10, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo");
    try {
      Run r = run(jdk);
      assertEquals(0, r.status());
      assertEquals("main\n", r.out());
      assertOneWarning(r.err(), archive);
      assertTrue(Files.exists(archive, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(archive, LinkOption.NOFOLLOW_LINKS),
          "the FIFO is left alone");
    } finally {
      Files.deleteIfExists(archive);
    }
  }

  @Test
  void aHostileArchiveDirectoryIsRefused() throws Exception {
    Path real = Files.createDirectory(tmp.resolve("real"),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    Files.createSymbolicLink(dir, real);
    Run linked = run(jdk);
    assertEquals(0, linked.status());
    assertEquals("main\n", linked.out());
    assertOneWarning(linked.err(), dir);
    assertEquals(List.of(), list(real), "nothing written through the link");
    Files.delete(dir);

    Files.createDirectory(dir);
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    Run open = run(jdk);
    assertEquals("main\n", open.out());
    assertOneWarning(open.err(), dir);
    assertEquals(List.of(), list(dir), "nothing written into a directory others can write");
  }

  @Test
  @RequiresCapability(Capability.ROOT)
  void anArchiveDirectoryOfAnotherUserIsRefused() throws Exception {
    Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    Files.setAttribute(dir, "unix:uid", 65534);
    Run r = run(jdk);
    assertEquals("main\n", r.out());
    assertOneWarning(r.err(), dir);
    assertEquals(List.of(), list(dir));
  }

  // ---------------------------------------------------------------- signals and exec

  @Test
  void aSignalToTheWrapperReachesTheProgramOnTheFirstRunAndOnLaterOnes() throws Exception {
    Path out = tmp.resolve("wait-1.out");
    Process training = startWaiting(out);
    try {
      ProcessHandle wrapper = training.toHandle();
      assertTrue(wrapper.info().command().map(c -> !c.endsWith("/java")).orElse(true), "the first run waits in bash");
      Signals.send("TERM", training.pid()); // to the wrapper only (Process.destroy would also close stdin)
      assertTrue(training.waitFor(RUN_BOUND.toSeconds(), TimeUnit.SECONDS));
      assertEquals(143, training.exitValue(), () -> "the JVM's status after SIGTERM; stdout " + read(out) + "; stderr " + read(tmp.resolve("wait-1.out.err")));
      assertEquals("main [wait]\nready\nhook\n", Files.readString(out), "the JVM ran its shutdown hooks");
    } finally {
      Cleanup.killTree(training);
    }
    assertEquals(List.of(), archives(), "a run that did not exit 0 writes no archive");

    assertEquals(0, run(jdk).status());
    assertEquals(1, archives().size());
    Path out2 = tmp.resolve("wait-2.out");
    Process hot = startWaiting(out2);
    try {
      assertTrue(hot.toHandle().info().command().orElse("").endsWith("/java"), "with an archive the wrapper execs java");
      Signals.send("INT", hot.pid());
      assertTrue(hot.waitFor(RUN_BOUND.toSeconds(), TimeUnit.SECONDS));
      assertEquals(130, hot.exitValue(), "the JVM's status after SIGINT");
      assertEquals("main [wait]\nready\nhook\n", Files.readString(out2));
    } finally {
      Cleanup.killTree(hot);
    }
  }

  private Process startWaiting(Path out) throws Exception {
    Path err = out.resolveSibling(out.getFileName() + ".err");
    Process p = processBuilder(jdk, Map.of("FASTBIND_JAVA_DEBUG", "1"), wrapperArgs(javaArgs("wait"))).redirectOutput(out.toFile())
        .redirectError(err.toFile()).start();
    Await.until(RUN_BOUND, () -> read(out).contains("ready\n"), () -> "the program's ready line: " + read(out));
    return p;
  }

  // ---------------------------------------------------------------- usage

  @Test
  void aBadNameOrNoJavaArgumentsIsOneLineAndStatus2() throws Exception {
    Run bad = exec(List.of(bash(), script().toString(), "--name", "a.b", "--", "-cp", jar.toString(), MAIN),
        Map.of("JAVA_HOME", jdk.toString()), null);
    assertEquals(2, bad.status());
    assertEquals("", bad.out());
    assertTrue(bad.err().startsWith("fastbind-java: --name 'a.b' must be") && bad.err().lines().count() == 1, bad.err());
    Run none = exec(List.of(bash(), script().toString(), "--"), Map.of("JAVA_HOME", jdk.toString()), null);
    assertEquals(2, none.status());
    assertEquals(1, none.err().lines().count(), none.err());
  }

  @Test
  void theScriptShipsInTheBrokerJarsResources() throws Exception {
    String text = Files.readString(script());
    assertTrue(text.startsWith("#!/usr/bin/env bash\n"), "a bash script");
    assertTrue(text.contains("unzip -p fastbind-broker-*.jar META-INF/fastbind/fastbind-java"), "says how to get it");
  }

  // ---------------------------------------------------------------- helpers

  private void assertOneWarning(String err, Path named) {
    List<String> lines = err.lines().collect(Collectors.toList());
    List<String> warnings = lines.stream().filter(l -> l.startsWith("fastbind-java: ")).collect(Collectors.toList());
    assertEquals(1, warnings.size(), () -> "one warning line in:\n" + err);
    assertTrue(warnings.get(0).contains(named.toString()), () -> "names " + named + ": " + warnings.get(0));
    assertEquals(List.of("err"), lines.stream().filter(l -> !l.startsWith("fastbind-java: ")).collect(Collectors.toList()),
        "otherwise the program's own stderr");
  }

  private static String bash() {
    return Capability.BASH.executable().toString();
  }

  private static Path script() throws URISyntaxException {
    URL url = LauncherArchiveScriptTest.class.getResource("/META-INF/fastbind/fastbind-java");
    if (url == null || !"file".equals(url.getProtocol())) {
      throw new AssertionError("META-INF/fastbind/fastbind-java is not a file on the test class path: " + url);
    }
    return Path.of(url.toURI());
  }

  private static Path java(Path home) {
    return home.resolve("bin").resolve("java");
  }

  private static int feature(Path home) throws IOException {
    for (String line : Files.readAllLines(home.resolve("release"))) {
      if (line.startsWith("JAVA_VERSION=\"")) {
        String v = line.substring("JAVA_VERSION=\"".length());
        int end = 0;
        while (end < v.length() && Character.isDigit(v.charAt(end))) {
          end++;
        }
        return Integer.parseInt(v.substring(0, end));
      }
    }
    throw new AssertionError("no JAVA_VERSION in " + home.resolve("release"));
  }

  private static String extension(Path home) throws IOException {
    return feature(home) >= 25 ? "aot" : "jsa";
  }

  private List<String> javaArgs(String... programArgs) {
    List<String> args = new ArrayList<>(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", jar.toString(), MAIN));
    args.addAll(List.of(programArgs));
    return args;
  }

  private List<String> wrapperArgs(List<String> javaArgs) throws URISyntaxException {
    List<String> cmd = new ArrayList<>(List.of(bash(), script().toString(), "--archive-dir", dir.toString(), "--name", "app", "--"));
    cmd.addAll(javaArgs);
    return cmd;
  }

  private Run run(Path home, String... programArgs) throws Exception {
    return run(home, Map.of(), null, programArgs);
  }

  private Run run(Path home, Map<String, String> env, String stdin, String... programArgs) throws Exception {
    return runArgs(home, env, stdin, javaArgs(programArgs));
  }

  /** A run with extra JVM options before the test's own. */
  private Run run(Path home, Map<String, String> env, String stdin, List<String> jvmOptions) throws Exception {
    List<String> args = new ArrayList<>(jvmOptions);
    args.addAll(javaArgs());
    return runArgs(home, env, stdin, args);
  }

  private Run runArgs(Path home, Map<String, String> env, String stdin, List<String> javaArgs) throws Exception {
    Map<String, String> all = new HashMap<>();
    all.put("JAVA_HOME", home.toString());
    all.put("FASTBIND_JAVA_CREATE", "foreground"); // the AOT cache exists when the run returns
    all.putAll(env);
    return exec(wrapperArgs(javaArgs), all, stdin);
  }

  /** The same program with plain java, for comparison. */
  private Run plain(Path home, String... programArgs) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(java(home).toString()));
    cmd.addAll(javaArgs(programArgs));
    return exec(cmd, Map.of(), null);
  }

  /** Where the JVM loaded the main class from, in a run through the wrapper with -Xlog:class+load. */
  private String loadedFrom(Path home) throws Exception {
    Path log = tmp.resolve("load-" + logs++ + ".txt");
    Run r = run(home, Map.of(), null, List.of("-Xlog:class+load:file=" + log));
    assertEquals(new Run(0, "main\n", "err\n"), r);
    return source(log);
  }

  private static String source(Path log) throws IOException {
    for (String line : Files.readAllLines(log)) {
      int at = line.indexOf(" " + MAIN + " source: ");
      if (at >= 0) {
        return line.substring(at + MAIN.length() + " source: ".length() + 1);
      }
    }
    throw new AssertionError("no class+load line for " + MAIN + " in " + log);
  }

  private ProcessBuilder processBuilder(Path home, Map<String, String> env, List<String> cmd) {
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(tmp.toFile());
    pb.environment().keySet().removeIf(k -> k.startsWith("FASTBIND_JAVA") || k.equals("JDK_JAVA_OPTIONS")
        || k.equals("JAVA_TOOL_OPTIONS"));
    pb.environment().put("JAVA_HOME", home.toString());
    pb.environment().put("FASTBIND_JAVA_CREATE", "foreground");
    pb.environment().putAll(env);
    return pb;
  }

  private Run exec(List<String> cmd, Map<String, String> env, String stdin) throws Exception {
    Path out = Files.createTempFile(tmp, "out", ".txt");
    Path err = Files.createTempFile(tmp, "err", ".txt");
    Path in = stdin == null ? Path.of("/dev/null") : Files.writeString(Files.createTempFile(tmp, "in", ".txt"), stdin);
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(tmp.toFile());
    pb.environment().keySet().removeIf(k -> k.startsWith("FASTBIND_JAVA") || k.equals("JDK_JAVA_OPTIONS")
        || k.equals("JAVA_TOOL_OPTIONS"));
    pb.environment().putAll(env);
    Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(in.toFile()).start();
    try {
      if (!p.waitFor(RUN_BOUND.toSeconds(), TimeUnit.SECONDS)) {
        fail("did not finish within " + RUN_BOUND + ": " + cmd);
      }
    } finally {
      Cleanup.killTree(p);
    }
    return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
  }

  private static void pack(Path jar, int extraEntries) throws IOException {
    String resource = MAIN.replace('.', '/') + ".class";
    byte[] bytes;
    try (var in = LauncherArchiveScriptTest.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new AssertionError("no " + resource + " on the test class path");
      }
      bytes = in.readAllBytes();
    }
    Path next = jar.resolveSibling(jar.getFileName() + ".new");
    try (OutputStream file = Files.newOutputStream(next); JarOutputStream out = new JarOutputStream(file)) {
      out.putNextEntry(new JarEntry(resource));
      out.write(bytes);
      out.closeEntry();
      for (int i = 0; i < extraEntries; i++) {
        out.putNextEntry(new JarEntry("extra-" + i + ".txt"));
        out.write(("extra " + i + "\n").getBytes(StandardCharsets.UTF_8));
        out.closeEntry();
      }
    }
    Files.move(next, jar, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }

  private static void writable(Path file) throws IOException {
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
  }

  private static String mode(Path p) throws IOException {
    String s = PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    int v = 0;
    for (char c : s.toCharArray()) {
      v = (v << 1) | (c == '-' ? 0 : 1);
    }
    return Integer.toOctalString(v);
  }

  private static Path meta(Path archive) {
    String name = archive.getFileName().toString();
    return archive.resolveSibling(name.substring(0, name.lastIndexOf('.')) + ".meta");
  }

  private Path onlyArchive() {
    List<Path> all = archives();
    assertEquals(1, all.size(), () -> "archives: " + listing());
    return all.get(0);
  }

  private List<Path> archives() {
    return list(dir).stream().filter(p -> {
      String n = p.getFileName().toString();
      return (n.endsWith(".jsa") || n.endsWith(".aot")) && !n.contains(".tmp-");
    }).collect(Collectors.toList());
  }

  /** Temporary files, locks and "creating" markers: none may stay behind a finished run. */
  private List<Path> leftovers() {
    return list(dir).stream().filter(p -> {
      String n = p.getFileName().toString();
      return n.contains(".tmp-") || n.endsWith(".lock") || n.endsWith(".creating");
    }).collect(Collectors.toList());
  }

  private List<Path> filesEndingWith(String suffix) {
    return list(dir).stream().filter(p -> p.getFileName().toString().endsWith(suffix)).collect(Collectors.toList());
  }

  private String listing() {
    return list(dir).toString();
  }

  private static List<Path> list(Path d) {
    if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(d)) {
      return s.sorted().collect(Collectors.toList());
    } catch (IOException e) {
      throw new AssertionError("cannot list " + d, e);
    }
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      return "";
    }
  }
}
