package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Class-data sharing with real daemons: a launcher JVM on a class path of jars spawns a
 * {@link TestDaemon}; the archive appears in the runtime directory when the daemon stops, the next
 * daemon maps it, and no missing, damaged or stale archive keeps a daemon from starting.
 */
class ClassDataSharingTest {

  private static final String SERVICE = "cds";
  private static final int DYNAMIC_MAGIC = 0xf00baba8;

  @TempDir static Path jarDir;
  private static String jarClassPath;

  @TempDir Path tmp;

  /** Packs every directory of the test class path into a jar: the JVM archives classes from jars only. */
  @BeforeAll
  static void packClassPath() throws IOException {
    List<String> entries = new ArrayList<>();
    int n = 0;
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      Path p = Path.of(entry);
      if (Files.isDirectory(p)) {
        Path jar = jarDir.resolve("dir" + n++ + ".jar");
        pack(p, jar);
        entries.add(jar.toString());
      } else if (!entry.isEmpty()) {
        entries.add(entry);
      }
    }
    jarClassPath = String.join(File.pathSeparator, entries);
  }

  private static void pack(Path dir, Path jar) throws IOException {
    List<Path> files;
    try (Stream<Path> walk = Files.walk(dir)) {
      files = walk.filter(Files::isRegularFile).sorted().collect(Collectors.toList());
    }
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
      for (Path f : files) {
        out.putNextEntry(new JarEntry(dir.relativize(f).toString().replace(File.separatorChar, '/')));
        Files.copy(f, out);
        out.closeEntry();
      }
    }
  }

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void cleanUp() throws Exception {
    Fixtures.killMarked(dir());
  }

  /** Runs {@link ArchiveLauncher} to completion (bounded) and returns the daemon's pid. */
  private long launch(String sharing, String... jvmOptions) throws Exception {
    List<String> cmd = JavaCommand.of(ArchiveLauncher.class).light().classPath(jarClassPath)
        .args(dir().toString(), SERVICE, sharing).args(jvmOptions).build();
    Path out = Files.createTempFile(tmp, "launcher", ".txt");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        fail("launcher did not finish within 60 s");
      }
    } finally {
      Cleanup.killTree(p);
    }
    String text = Files.readString(out, StandardCharsets.UTF_8);
    assertEquals(0, p.exitValue(), () -> "launcher failed:\n" + text + "\ndaemon log:\n" + log());
    for (String line : text.split("\n")) {
      if (line.startsWith("PID ")) {
        return Long.parseLong(line.substring(4).trim());
      }
    }
    throw new AssertionError("no PID line in:\n" + text);
  }

  private String log() {
    try {
      return Files.readString(dir().resolve(SERVICE + ".log"), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private StopResult stop() throws IOException {
    return Broker.create().stop(Fixtures.daemon(dir(), SERVICE, "good").build());
  }

  private static List<String> arguments(long pid) {
    return ProcessHandle.of(pid).flatMap(h -> h.info().arguments()).map(Arrays::asList)
        .orElseThrow(() -> new AssertionError("cannot read the arguments of pid " + pid));
  }

  private List<Path> archives() throws IOException {
    try (Stream<Path> files = Files.list(dir())) {
      return files.filter(f -> f.getFileName().toString().endsWith(".jsa")).sorted().collect(Collectors.toList());
    }
  }

  private Path onlyArchive() throws IOException {
    List<Path> all = archives();
    assertEquals(1, all.size(), () -> "archives: " + all);
    return all.get(0);
  }

  private static boolean startsWithMagic(Path archive) throws IOException {
    try (FileChannel ch = FileChannel.open(archive)) {
      ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder());
      ch.read(b);
      return b.getInt(0) == DYNAMIC_MAGIC;
    }
  }

  /**
   * Spawns, then stops: the daemon writes its archive as it exits. The archive's name depends on the
   * daemon's JVM options, so every launch of a test passes the same ones.
   */
  private Path createArchive(String... jvmOptions) throws Exception {
    launch("on", jvmOptions);
    assertEquals(StopResult.SHUT_DOWN, stop());
    Path archive = onlyArchive();
    assertTrue(startsWithMagic(archive), "a dynamic archive: " + archive);
    return archive;
  }

  @Test
  void theFirstStopWritesAnArchiveAndTheNextDaemonMapsItsClassesFromIt() throws Exception {
    long first = launch("on", "-Xlog:class+load");
    List<String> args = arguments(first);
    String writing = Runtime.version().feature() >= 19 ? "-XX:+AutoCreateSharedArchive" : "-XX:ArchiveClassesAtExit=";
    assertTrue(args.stream().anyMatch(a -> a.startsWith(writing)), args.toString());
    assertTrue(archives().isEmpty(), "nothing is written before the daemon exits");
    assertEquals(StopResult.SHUT_DOWN, stop());
    Path archive = onlyArchive();
    assertTrue(startsWithMagic(archive));
    assertTrue(archive.getFileName().toString().startsWith(SERVICE + "."), archive.toString());

    long second = launch("on", "-Xlog:class+load");
    assertTrue(arguments(second).contains("-XX:SharedArchiveFile=" + archive), arguments(second).toString());
    String log = log();
    assertTrue(log.contains("dev.fastbind.backend.Daemon source: shared objects file (top)"),
        "the SDK's classes come from the archive:\n" + log.lines().filter(l -> l.contains("dev.fastbind"))
            .limit(5).collect(Collectors.joining("\n")));
    assertEquals(StopResult.SHUT_DOWN, stop());
    assertEquals(List.of(archive), archives(), "the same archive is kept");
  }

  @Test
  void aTruncatedGarbledOrEmptyArchiveNeverKeepsTheDaemonFromStarting() throws Exception {
    // A JDK 17 JVM that maps a truncated archive can crash at start: keep a core file out of the test.
    String noCore = "-XX:-CreateCoredumpOnCrash";
    List<String> damages = List.of("truncated", "garbled", "empty");
    for (String damage : damages) {
      Path archive = createArchive(noCore);
      long size = Files.size(archive);
      archive.toFile().setWritable(true);
      switch (damage) {
        case "truncated" -> {
          try (FileChannel ch = FileChannel.open(archive, StandardOpenOption.WRITE)) {
            ch.truncate(size / 2);
          }
        }
        case "garbled" -> {
          byte[] noise = new byte[(int) size];
          ThreadLocalRandom.current().nextBytes(noise);
          Files.write(archive, noise);
        }
        default -> Files.write(archive, new byte[0]);
      }
      long pid = launch("on", noCore);
      assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), damage + ": daemon runs");
      assertTrue(Broker.create().status(Fixtures.daemon(dir(), SERVICE, "good").build()) instanceof ServiceStatus.Running,
          damage + ": daemon answers");
      assertEquals(StopResult.SHUT_DOWN, stop());
      Path rewritten = onlyArchive();
      assertTrue(startsWithMagic(rewritten), damage + ": a good archive replaces the damaged one");
    }
  }

  @Test
  void aRebuiltJarNeverKeepsTheDaemonFromStartingAndGetsAFreshArchive() throws Exception {
    Path before = createArchive();
    Path jar = Path.of(jarClassPath.split(File.pathSeparator)[0]);
    Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 60_000));
    launch("on");
    assertEquals(StopResult.SHUT_DOWN, stop());
    Path after = onlyArchive();
    assertTrue(startsWithMagic(after));
    if (Runtime.version().feature() < 19) {
      assertFalse(after.equals(before), "JDK 17 cannot refresh an archive in place: a new name, the old one gone");
    }
  }

  @Test
  void aDaemonOptedOutOrManagingSharingItselfGetsNoArchive() throws Exception {
    long off = launch("off");
    assertTrue(arguments(off).stream().noneMatch(a -> a.contains("SharedArchive") || a.contains("ArchiveClasses")),
        arguments(off).toString());
    assertEquals(StopResult.SHUT_DOWN, stop());
    long own = launch("on", "-Xshare:off");
    assertTrue(arguments(own).stream().noneMatch(a -> a.contains("SharedArchive") || a.contains("ArchiveClasses")),
        arguments(own).toString());
    assertEquals(StopResult.SHUT_DOWN, stop());
    assertTrue(archives().isEmpty(), "no archive: " + archives());
  }
}
