package dev.fastbind.examples.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.examples.cache.Cachectl.Result;
import dev.fastbind.testsupport.Await;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cachectl as a user runs it: the real script, a real daemon spawned by the broker, real files in a
 * private state directory, real crashes.
 */
class CacheCtlTest {
  private static final String UNKNOWN_KEY = "0".repeat(64);

  @TempDir Path dir;
  private Cachectl ctl;
  private final Set<Long> daemons = new HashSet<>();

  @BeforeEach
  void setUp() throws IOException {
    ctl = new Cachectl(dir);
  }

  @AfterEach
  void nothingOutlivesTheTest() throws IOException {
    ctl.stopAll(daemons);
  }

  private long daemon() {
    long pid = ctl.daemonPid();
    daemons.add(pid);
    return pid;
  }

  private Path file(String name, byte[] content) throws IOException {
    return Files.write(dir.resolve(name), content);
  }

  @Test
  void aPutFileComesBackByItsKeyOnStdoutIntoAFileAndFromStdin() throws IOException {
    byte[] content = new byte[100_000];
    new Random(7).nextBytes(content);
    Path file = file("blob.bin", content);

    Result put = ctl.run("put", file.toString()).expect(0);
    String key = put.out().strip();
    assertEquals(BlobStore.sha256(content) + "\n", put.out());
    assertArrayEquals(content, ctl.run("get", key).expect(0).stdout());
    Path copy = dir.resolve("copy.bin");
    assertEquals(0, ctl.run("get", key, "-o", copy.toString()).expect(0).stdout().length);
    assertArrayEquals(content, Files.readAllBytes(copy));
    assertEquals(key + "\n", ctl.run(file, "put", "-").expect(0).out(), "the same content from stdin, the same key");
    assertEquals("1", ctl.run("stats").expect(0).fact("entries"));
    daemon();
  }

  @Test
  void theDataOutlivesItsDaemonAndStopSaysWhichDaemonItStopped() throws IOException {
    String key = ctl.run("put", file("a", "persisted\n".getBytes(StandardCharsets.UTF_8)).toString()).expect(0)
        .out().strip();
    long first = daemon();
    assertEquals("stopped the cache daemon (pid " + first + ")\n", ctl.run("stop").expect(0).out());
    assertFalse(CacheDemo.running(first), "pid " + first + " runs");

    assertEquals("persisted\n", ctl.run("get", key).expect(0).out());
    long second = daemon();
    assertNotEquals(first, second);
    assertEquals("1", ctl.run("stats").expect(0).fact("entries"));
  }

  @Test
  void afterAKill9TheNextCallIsServedByAFreshDaemonWithTheData() throws IOException {
    String key = ctl.run("put", file("a", "survives\n".getBytes(StandardCharsets.UTF_8)).toString()).expect(0)
        .out().strip();
    long killed = daemon();
    ctl.kill9(killed);

    assertEquals("survives\n", ctl.run("get", key).expect(0).out());
    long fresh = daemon();
    assertNotEquals(killed, fresh);
    Result stats = ctl.run("stats").expect(0);
    assertEquals("1", stats.fact("entries"));
    assertEquals("1", stats.fact("hits"));
  }

  @Test
  void requestsDuringASlowWarmUpWaitForTheIndexAndAreAnsweredRight() throws IOException {
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      keys.add(ctl.run("put", file("f" + i, ("file " + i).getBytes(StandardCharsets.UTF_8)).toString()).expect(0)
          .out().strip());
    }
    daemon();
    ctl.run("stop").expect(0);

    // 5 entries: 4 s of warm-up, so that six launcher JVMs starting at once on a loaded 2-core machine
    // (CI saw them all arrive after a 1.5 s warm-up) still call while the index loads.
    ctl.env("CACHECTL_INDEX_DELAY_MS", "800");
    List<Process> gets = new ArrayList<>();
    for (String key : keys) {
      gets.add(ctl.start(null, "get", key));
    }
    Process unknown = ctl.start(null, "get", UNKNOWN_KEY);
    boolean sawWarming = false;
    for (int i = 0; i < keys.size(); i++) {
      Result r = ctl.finish(gets.get(i)).expect(0);
      assertEquals("file " + i, r.out());
      sawWarming |= r.stderr().contains("is warming up");
    }
    assertTrue(sawWarming, "no get saw the daemon warming up: they did not arrive during the warm-up");
    // Not "not found" from a half-loaded index: the key is really absent, and the answer came after the load.
    Result absent = ctl.finish(unknown).expect(1);
    List<String> lines = absent.stderr().lines().toList();
    assertEquals("cachectl: " + UNKNOWN_KEY + ": not in the cache (put it first)", lines.get(lines.size() - 1));
    assertTrue(lines.subList(0, lines.size() - 1).stream().allMatch(l -> l.contains("is warming up: ")), absent.stderr());
    Result stats = ctl.run("stats").expect(0);
    daemons.add(Long.parseLong(stats.fact("pid")));
    assertEquals("5", stats.fact("entries"));
    assertEquals("5", stats.fact("hits"));
    assertTrue(stats.fact("index load").endsWith(" s"), "a 4 s load shows in seconds: " + stats.out());
  }

  @Test
  void anIdleDaemonExitsByItselfAndLeavesNothingBehind() throws IOException {
    ctl.env("CACHECTL_IDLE_MS", "1000");
    ctl.run("put", file("a", "x".getBytes(StandardCharsets.UTF_8)).toString()).expect(0);
    long pid = daemon();
    Await.until(Duration.ofSeconds(20), () -> !CacheDemo.running(pid),
        () -> "the daemon " + pid + " did not exit after 1 s idle");
    Await.until(Duration.ofSeconds(5), () -> {
      try {
        return ctl.endpointFilesLeft().isEmpty();
      } catch (IOException e) {
        return false;
      }
    }, () -> "left behind in " + ctl.fastbindDir());
    assertTrue(ctl.run("status").expect(3).out().startsWith("daemon: not running\n"));
  }

  @Test
  void aDamagedBlobIsReportedNamingTheFileNeverReturnedAndAPutRepairsIt() throws IOException {
    Path original = file("a", "the original\n".getBytes(StandardCharsets.UTF_8));
    String key = ctl.run("put", original.toString()).expect(0).out().strip();
    Path blob = ctl.state.resolve("blobs").resolve(key);
    Files.writeString(blob, "the original?"); // the same size, other content

    Result get = ctl.run("get", key).expect(65);
    assertEquals(0, get.stdout().length, "a damaged blob must not be written out");
    String line = get.oneErrorLine();
    assertTrue(line.contains(blob.toString()) && line.contains("put the original content again"), line);

    ctl.run("put", original.toString()).expect(0);
    assertEquals("the original\n", ctl.run("get", key).expect(0).out());
    daemon();
  }

  @Test
  void aTornLastIndexLineIsCutOffAndEverythingElseIsServed() throws IOException {
    String a = ctl.run("put", file("a", "aaa".getBytes(StandardCharsets.UTF_8)).toString()).expect(0).out().strip();
    String b = ctl.run("put", file("b", "bbb".getBytes(StandardCharsets.UTF_8)).toString()).expect(0).out().strip();
    daemon();
    ctl.run("stop").expect(0);
    Path index = ctl.state.resolve("index");
    Files.writeString(index, Files.readString(index) + "3f79bb7b435b05321651daefd374cdc681dc06fa 12"); // a crash mid-append

    assertEquals("aaa", ctl.run("get", a).expect(0).out());
    String c = ctl.run("put", file("c", "ccc".getBytes(StandardCharsets.UTF_8)).toString()).expect(0).out().strip();
    daemon();
    assertTrue(Files.readString(ctl.fastbindDir().resolve("cache.log")).contains("ends in a torn line"));
    ctl.run("stop").expect(0);

    assertEquals("bbb", ctl.run("get", b).expect(0).out());
    assertEquals("ccc", ctl.run("get", c).expect(0).out());
    assertEquals("3", ctl.run("stats").expect(0).fact("entries"));
    daemon();
    List<String> lines = Files.readString(index).lines().toList();
    assertEquals(List.of(BlobStore.INDEX_HEADER.strip()), lines.subList(0, 1));
    assertEquals(List.of(a, b, c), lines.subList(1, lines.size()).stream().map(l -> l.split(" ")[0]).toList());
    assertTrue(Files.readString(index).endsWith("\n"));
  }

  @Test
  void aSymlinkedStateDirectoryIsRefusedInOneLineAndNothingStarts() throws IOException {
    Path real = Files.createDirectory(dir.resolve("real"), PosixFilePermissions.asFileAttribute(
        PosixFilePermissions.fromString("rwx------")));
    Files.createSymbolicLink(ctl.state, real);
    Path file = file("a", "x".getBytes(StandardCharsets.UTF_8));

    for (String[] command : List.of(new String[] {"put", file.toString()}, new String[] {"get", UNKNOWN_KEY},
        new String[] {"stats"})) {
      String line = ctl.run(command).expect(77).oneErrorLine();
      assertTrue(line.startsWith("cachectl: state directory " + ctl.state + " is a symbolic link"), line);
      assertTrue(line.contains("CACHECTL_STATE_DIR"), line);
    }
    assertTrue(ctl.run("status").expect(3).out().startsWith("daemon: not running\n"));
    try (var left = Files.list(real)) {
      assertEquals(List.of(), left.toList(), "written through the link");
    }
    assertTrue(Files.isSymbolicLink(ctl.state), "the link was changed");
  }

  @Test
  void aStateDirectoryOpenToOthersIsRefusedWithTheFix() throws IOException {
    Files.createDirectory(ctl.state, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxrwxrwx")));
    Files.setPosixFilePermissions(ctl.state, PosixFilePermissions.fromString("rwxrwxrwx")); // past the umask
    String line = ctl.run("stats").expect(77).oneErrorLine();
    assertTrue(line.contains("open to other users") && line.contains("chmod 700 " + ctl.state), line);
    assertEquals(PosixFilePermissions.fromString("rwxrwxrwx"), Files.getPosixFilePermissions(ctl.state), "changed");
  }

  @Test
  void aKeyNotInTheCacheIsNotFoundAndAMalformedKeyIsAUsageError() throws IOException {
    Result missing = ctl.run("get", UNKNOWN_KEY).expect(1);
    assertEquals("cachectl: " + UNKNOWN_KEY + ": not in the cache (put it first)", missing.oneErrorLine());
    assertEquals(0, missing.stdout().length);
    daemon();
    String line = ctl.run("get", "not-a-key").expect(64).oneErrorLine();
    assertTrue(line.contains("'not-a-key' is not a key"), line);
    assertEquals("1", ctl.run("stats").expect(0).fact("misses"));
  }

  @Test
  void anOversizedPutIsRefusedBeforeAnythingIsSentOrStarted() throws IOException {
    Path big = dir.resolve("big");
    try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
      f.setLength(CacheProtocol.MAX_BLOB_BYTES + 1L); // sparse: costs no disk
    }
    String line = ctl.run("put", big.toString()).expect(65).oneErrorLine();
    assertEquals("cachectl: " + big + " is " + (CacheProtocol.MAX_BLOB_BYTES + 1) + " bytes, more than the "
        + CacheProtocol.MAX_BLOB_BYTES + " bytes (16 MiB) a blob may hold; nothing was sent: store smaller pieces", line);
    assertTrue(ctl.run(big, "put", "-").expect(65).oneErrorLine().startsWith("cachectl: standard input is more than "));
    assertTrue(ctl.run("status").expect(3).out().startsWith("daemon: not running\n"), "a daemon was started");
    assertFalse(Files.exists(ctl.state), "the state directory was created");

    Path largest = dir.resolve("largest");
    try (RandomAccessFile f = new RandomAccessFile(largest.toFile(), "rw")) {
      f.setLength(CacheProtocol.MAX_BLOB_BYTES);
    }
    String key = ctl.run("put", largest.toString()).expect(0).out().strip();
    assertEquals(CacheProtocol.MAX_BLOB_BYTES, ctl.run("get", key).expect(0).stdout().length, "the limit itself fits");
    daemon();
  }

  @Test
  void statusAndStopWithNoDaemonSaySoAndStartNothing() throws IOException {
    Result status = ctl.run("status").expect(3);
    assertEquals("daemon: not running\nstate directory: " + ctl.state + "\n", status.out());
    assertEquals("no cache daemon was running\n", ctl.run("stop").expect(0).out());
    assertEquals(List.of(), ctl.endpointFilesLeft());
    assertFalse(Files.exists(ctl.state), "status or stop created the state directory");
    assertEquals(64, ctl.run("frobnicate").status());
  }

  @Test
  void cachectlStartsItsJvmFromAnArchiveItsFirstRunMadeAndOutputStaysTheSame() throws IOException {
    // stop with no daemon: a run that exits 0 (only those leave an archive) and starts nothing.
    Path archives = dir.resolve("archives");
    ctl.env("FASTBIND_JAVA_ARCHIVE_DIR", archives.toString()).env("FASTBIND_JAVA_DEBUG", "1");
    Result first = ctl.run("stop").expect(0);
    assertTrue(first.stderr().contains("fastbind-java: training"), "the first run makes the archive: " + first.stderr());
    try (java.util.stream.Stream<Path> s = Files.list(archives)) {
      assertTrue(s.anyMatch(p -> p.getFileName().toString().startsWith("cachectl.")),
          "an archive named after the command group is in " + archives);
    }
    Result second = ctl.run("stop").expect(0);
    assertTrue(second.stderr().contains("fastbind-java: archive: " + archives), "the next run maps it: " + second.stderr());
    assertEquals(first.out(), second.out(), "the program's output is its own either way");
    Result plain = ctl.env("FASTBIND_JAVA_ARCHIVE", "off").run("stop").expect(0);
    assertEquals(first.out(), plain.out());
  }
}
