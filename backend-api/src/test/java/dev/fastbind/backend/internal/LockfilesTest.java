package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.wire.LockfileException;
import dev.fastbind.backend.internal.wire.LockfileCodec;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.LockfileException.Reason;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LockfilesTest {

  @TempDir Path dir;

  static LockfileRecord record(String service, String version, String instanceId) throws Exception {
    return new LockfileRecord(service, 4242, "ticks:123456", "0b7c3f2e-boot", Endpoint.parse("unix:/run/user/1000/cache/cache.sock"),
        Endpoint.parse("unix:/run/user/1000/cache/cache.sock.ctl"), version, instanceId);
  }

  static LockfileRecord record() throws Exception {
    return record("cache", "1.4.0", "9f0c2d1e");
  }

  private static List<String> listing(Path d) throws IOException {
    try (Stream<Path> s = Files.list(d)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  private static byte[] withChecksum(String content) {
    byte[] body = content.getBytes(StandardCharsets.UTF_8);
    CRC32 crc = new CRC32();
    crc.update(body);
    return (content + String.format(Locale.ROOT, "crc32=%08x\n", crc.getValue())).getBytes(StandardCharsets.UTF_8);
  }

  private static Reason decodeFailure(byte[] bytes) {
    LockfileException e = assertThrows(LockfileException.class, () -> LockfileCodec.decode(bytes, Path.of("/x/y.lock")));
    assertEquals(Path.of("/x/y.lock"), e.file());
    assertTrue(e.getMessage().contains("/x/y.lock"), e.getMessage());
    return e.reason();
  }

  private Reason readFailure(byte[] bytes) throws IOException {
    Path f = dir.resolve("bad.lock");
    Files.write(f, bytes);
    LockfileException e = assertThrows(LockfileException.class, () -> Lockfiles.read(f));
    assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
    return e.reason();
  }

  @Test
  void roundTripPreservesAwkwardValues() throws Exception {
    String service = "my cache = 100% fast %41 %u0041\nsecond line\r\t\0 ü 日本 😀 \u2028 zero\u200Bwidth nb\u00A0sp \u0085 lone\uD800 end\uDC00";
    String version = "1.0-ünïcode=%=\u007F\uFEFF\uE000";
    LockfileRecord r = record(service, version, "id with spaces=%\n");
    Path f = dir.resolve("cache.lock");
    Lockfiles.write(f, r);
    assertEquals(Optional.of(r), Lockfiles.read(f));
    assertEquals(r, LockfileCodec.decode(LockfileCodec.encode(r), f));
    List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
    assertEquals(11, lines.size(), "one line per field plus header and checksum: " + lines);
    assertTrue(lines.get(1).startsWith("service=my cache = 100%25 fast %2541"), lines.get(1));
    assertTrue(lines.get(1).contains("ü 日本 😀"), "printable non-ASCII stays readable: " + lines.get(1));
  }

  @Test
  void writtenFileIsOwnerOnlyAndStartsWithHeaderAndEndsWithChecksum() throws Exception {
    Path f = dir.resolve("cache.lock");
    Lockfiles.write(f, record());
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
    assertEquals("fastbind-lockfile 1", lines.get(0));
    assertTrue(lines.get(lines.size() - 1).matches("crc32=[0-9a-f]{8}"), lines.toString());
    assertTrue(lines.contains("pid=4242"), lines.toString());
    assertTrue(lines.contains("endpoint=unix:/run/user/1000/cache/cache.sock"), lines.toString());
    assertTrue(lines.stream().anyMatch(l -> l.startsWith("written-at=")), lines.toString());
  }

  @Test
  void writeReplacesAnExistingLockfileAndLeavesNoTempFiles() throws Exception {
    Path f = dir.resolve("cache.lock");
    Lockfiles.write(f, record("cache", "1", "first"));
    Lockfiles.write(f, record("cache", "2", "second"));
    assertEquals("second", Lockfiles.read(f).orElseThrow().instanceId());
    assertEquals(List.of("cache.lock"), listing(dir));
  }

  @Test
  void writeRefusesADirectoryAtTheLockfilePathAndLeavesItAndNoTempFile() throws Exception {
    Path f = dir.resolve("cache.lock");
    Files.createDirectory(f);
    Files.writeString(f.resolve("keep"), "precious");
    IOException e = assertThrows(IOException.class, () -> Lockfiles.write(f, record()));
    assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("a directory stands at that path"), e.getMessage());
    assertEquals(List.of("cache.lock"), listing(dir));
    assertEquals(List.of("keep"), listing(f));
    assertEquals("precious", Files.readString(f.resolve("keep")));
  }

  @Test
  void writeIntoAMissingDirectoryNamesThePathAndWhatToDo() throws Exception {
    Path f = dir.resolve("missing").resolve("cache.lock");
    IOException e = assertThrows(IOException.class, () -> Lockfiles.write(f, record()));
    assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    assertEquals(List.of(), listing(dir));
  }

  @Test
  void writtenAtIsTheUtcSecondThatInstantPrints() {
    long[] seconds = {0, 1, 59, 86_399, 86_400, 951_782_400L, 951_868_800L, 1_709_164_800L, 1_735_689_599L,
        4_102_444_799L, -1, -86_401, -2_208_988_800L, 253_402_300_799L};
    for (long s : seconds) {
      assertEquals(java.time.Instant.ofEpochSecond(s).toString(), LockfileCodec.utcSeconds(s * 1000 + 999), "second " + s);
    }
    java.util.Random random = new java.util.Random(42);
    for (int i = 0; i < 10_000; i++) {
      long s = random.nextLong() % 253_402_300_799L;
      assertEquals(java.time.Instant.ofEpochSecond(Math.abs(s)).toString(), LockfileCodec.utcSeconds(Math.abs(s) * 1000));
    }
  }

  @Test
  void readOfAMissingFileIsEmpty() throws Exception {
    assertEquals(Optional.empty(), Lockfiles.read(dir.resolve("none.lock")));
  }

  @Test
  void readReportsAnEmptyFile() throws Exception {
    assertEquals(Reason.EMPTY, readFailure(new byte[0]));
  }

  @Test
  void decodeReportsEveryPrefixAsTruncatedAndNeverDecodesIt() throws Exception {
    byte[] full = LockfileCodec.encode(record("caché 日本", "1.0", "abc"));
    assertEquals(Reason.EMPTY, decodeFailure(new byte[0]));
    for (int n = 1; n < full.length; n++) {
      byte[] prefix = Arrays.copyOf(full, n);
      assertEquals(Reason.TRUNCATED, decodeFailure(prefix), "prefix of " + n + " of " + full.length + " bytes");
    }
  }

  @Test
  void readReportsFilesCutAtSeveralPointsAsTruncated() throws Exception {
    byte[] full = LockfileCodec.encode(record());
    String text = new String(full, StandardCharsets.UTF_8);
    int[] cuts = {5, text.indexOf('\n'), text.indexOf('\n') + 1, text.indexOf("pid=") + 2, text.indexOf("crc32="),
        text.indexOf("crc32=") + 9, full.length - 1};
    for (int cut : cuts) {
      assertEquals(Reason.TRUNCATED, readFailure(Arrays.copyOf(full, cut)), "cut at " + cut);
    }
  }

  @Test
  void readReportsAFileWithoutOurHeaderAsForeign() throws Exception {
    assertEquals(Reason.FOREIGN, readFailure("{\"pid\": 42}\n".getBytes(StandardCharsets.UTF_8)));
    assertEquals(Reason.FOREIGN, readFailure(new byte[] {(byte) 0xff, 0, 1, 2, 3}));
    assertEquals(Reason.FOREIGN, readFailure("fastbind-lockfilf 1\n".getBytes(StandardCharsets.UTF_8)));
    Path f = dir.resolve("bad.lock");
    LockfileException e = assertThrows(LockfileException.class, () -> Lockfiles.read(f));
    assertTrue(e.getMessage().contains("fastbind did not write it"), e.getMessage());
  }

  @Test
  void readReportsFutureFormatVersionAsTypedError() throws Exception {
    Path f = dir.resolve("cache.lock");
    Files.writeString(f, "fastbind-lockfile 3\nwhatever a newer format holds\n");
    LockfileException e = assertThrows(LockfileException.class, () -> Lockfiles.read(f));
    assertEquals(Reason.FUTURE_VERSION, e.reason());
    assertEquals(f, e.file());
    assertTrue(e.getMessage().contains("lockfile " + f + " was written by a newer fastbind (format 3; this reads 1)"),
        e.getMessage());
    assertTrue(e.getMessage().contains("upgrade the launcher or delete the file"), e.getMessage());
  }

  @Test
  void readReportsAFlippedByteAsCorrupt() throws Exception {
    byte[] bytes = LockfileCodec.encode(record());
    int at = new String(bytes, StandardCharsets.UTF_8).indexOf("service=cache") + "service=c".length();
    bytes[at] = 'k';
    assertEquals(Reason.CORRUPT, readFailure(bytes));
  }

  @Test
  void decodeNeverAcceptsAnySingleBitFlip() throws Exception {
    byte[] good = LockfileCodec.encode(record());
    for (int i = 0; i < good.length; i++) {
      for (int bit = 0; bit < 8; bit++) {
        byte[] bad = good.clone();
        bad[i] ^= (byte) (1 << bit);
        int pos = i;
        int b = bit;
        assertThrows(LockfileException.class, () -> LockfileCodec.decode(bad, dir.resolve("x.lock")),
            () -> "bit " + b + " of byte " + pos + " flipped");
      }
    }
  }

  @Test
  void readReportsAnIntactChecksumOverBadFieldsAsCorrupt() throws Exception {
    String header = "fastbind-lockfile 1\n";
    String good = "service=cache\npid=42\nprocess-start-time=ticks:1\nboot-id=b\nendpoint=unix:/tmp/a.sock\n"
        + "control-endpoint=unix:/tmp/a.ctl\ndaemon-version=1\ninstance-id=i\n";
    assertEquals("cache", LockfileCodec.decode(withChecksum(header + good), dir).service());
    assertEquals(Reason.CORRUPT, readFailure(withChecksum(header + good.replace("pid=42\n", ""))));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum(header + good.replace("pid=42", "pid=forty-two"))));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum(header + good.replace("pid=42", "pid=0"))));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum(header + good + "pid=43\n")));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum(header + good.replace("unix:/tmp/a.sock", "tcp:1"))));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum(header + good.replace("service=cache", "service=a%zz"))));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum(header + good.replace("service=cache", "service=a\tb"))));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum(header + good + "no equals sign\n")));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum("fastbind-lockfile 0\n" + good)));
    assertEquals(Reason.CORRUPT, readFailure(withChecksum("fastbind-lockfile one\n" + good)));
  }

  @Test
  void readIgnoresUnknownFieldsOfTheSameVersion() throws Exception {
    String content = "fastbind-lockfile 1\nservice=cache\npid=42\nprocess-start-time=ticks:1\nboot-id=b\n"
        + "endpoint=unix:/tmp/a.sock\ncontrol-endpoint=unix:/tmp/a.ctl\ndaemon-version=1\ninstance-id=i\n"
        + "added-later=anything\n";
    assertEquals(42, LockfileCodec.decode(withChecksum(content), dir).pid());
  }

  @Test
  void readRefusesASymlinkEvenToAValidLockfile() throws Exception {
    Path real = dir.resolve("real.lock");
    Lockfiles.write(real, record());
    Path link = Files.createSymbolicLink(dir.resolve("cache.lock"), real);
    assertTrue(Lockfiles.read(real).isPresent());
    LockfileException e = assertThrows(LockfileException.class, () -> Lockfiles.read(link));
    assertEquals(Reason.SYMLINK, e.reason());
    assertTrue(e.getMessage().contains(link.toString()), e.getMessage());
  }

  @Test
  void readRefusesADirectoryAsNotARegularFile() throws Exception {
    Path f = Files.createDirectory(dir.resolve("cache.lock"));
    LockfileException e = assertThrows(LockfileException.class, () -> Lockfiles.read(f));
    assertEquals(Reason.NOT_A_REGULAR_FILE, e.reason());
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void readOfAFifoSwappedInAfterTheCheckFailsAtOnceInsteadOfBlocking() throws Exception {
    Path real = dir.resolve("real.lock");
    Lockfiles.write(real, record());
    BasicFileAttributes regular = Files.readAttributes(real, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    Path fifo = dir.resolve("cache.lock");
    Process mkfifo = new ProcessBuilder(Capability.MKFIFO.executable().toString(), fifo.toString()).start();
    assertTrue(mkfifo.waitFor(10, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo");
    try {
      // lstat saw a regular file, then a FIFO took its place: the open and read must not wait for a writer.
      LockfileException e = assertTimeoutPreemptively(Duration.ofSeconds(20),
          () -> assertThrows(LockfileException.class, () -> Lockfiles.read(fifo, regular)));
      assertEquals(Reason.NOT_A_REGULAR_FILE, e.reason());
      assertTrue(e.getMessage().contains(fifo.toString()) && e.getMessage().contains("remove it"), e.getMessage());
    } finally {
      // Completes an open still blocked on the FIFO, so no thread stays stuck if the test fails.
      FileChannel.open(fifo, StandardOpenOption.READ, StandardOpenOption.WRITE).close();
    }
  }

  @Test
  void readRefusesAnOversizedFile() throws Exception {
    byte[] big = new byte[LockfileCodec.MAX_BYTES + 1];
    Arrays.fill(big, (byte) 'a');
    byte[] header = "fastbind-lockfile 1\n".getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(header, 0, big, 0, header.length);
    assertEquals(Reason.TOO_LARGE, readFailure(big));
    assertEquals(Reason.TOO_LARGE, decodeFailure(big));
  }

  @Test
  void encodeRefusesARecordTooLargeToReadBack() throws Exception {
    LockfileRecord huge = record("x".repeat(LockfileCodec.MAX_BYTES), "1", "i");
    assertThrows(IllegalArgumentException.class, () -> LockfileCodec.encode(huge));
    assertThrows(IllegalArgumentException.class, () -> Lockfiles.write(dir.resolve("x.lock"), huge));
    assertEquals(List.of(), listing(dir));
  }

  @Test
  void readersRacingAWriterNeverSeeAPartialFile() throws Exception {
    Path f = dir.resolve("race.lock");
    List<LockfileRecord> records = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      records.add(record("service-" + i, Integer.toString(i).repeat(500 + 97 * i), "instance-" + i));
    }
    Set<LockfileRecord> valid = Set.copyOf(records);
    AtomicBoolean firstWritten = new AtomicBoolean();
    AtomicBoolean done = new AtomicBoolean();
    AtomicInteger writes = new AtomicInteger();
    AtomicInteger presentReads = new AtomicInteger();
    CountDownLatch start = new CountDownLatch(1);
    int readers = 4;
    ExecutorService pool = Executors.newFixedThreadPool(readers + 1);
    try {
      List<Future<?>> futures = new ArrayList<>();
      futures.add(pool.submit(() -> {
        start.await();
        long deadline = System.nanoTime() + Duration.ofMillis(1500).toNanos();
        try {
          for (int i = 0; i < 3000 && System.nanoTime() - deadline < 0; i++) {
            Lockfiles.write(f, records.get(i % records.size()));
            firstWritten.set(true);
            writes.incrementAndGet();
          }
        } finally {
          done.set(true);
        }
        return null;
      }));
      for (int r = 0; r < readers; r++) {
        futures.add(pool.submit(() -> {
          start.await();
          while (!done.get()) {
            boolean written = firstWritten.get();
            Optional<LockfileRecord> got = Lockfiles.read(f);
            if (got.isEmpty()) {
              assertFalse(written, "the lockfile vanished after it was first written");
            } else {
              assertTrue(valid.contains(got.get()), "read a record nobody wrote: " + got.get());
              presentReads.incrementAndGet();
            }
          }
          return null;
        }));
      }
      start.countDown();
      for (Future<?> fu : futures) {
        fu.get(60, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    assertTrue(writes.get() > 1, "writes: " + writes.get());
    assertTrue(presentReads.get() > 0, "no read saw a record");
    assertEquals(List.of("race.lock"), listing(dir));
  }

  @Test
  void deleteIfOwnedByLeavesASuccessorsLockfileAlone() throws Exception {
    Path f = dir.resolve("cache.lock");
    Lockfiles.write(f, record("cache", "1", "old-instance"));
    Lockfiles.write(f, record("cache", "2", "successor"));
    assertFalse(Lockfiles.deleteIfOwnedBy(f, "old-instance"));
    assertEquals("successor", Lockfiles.read(f).orElseThrow().instanceId());
    assertTrue(Lockfiles.deleteIfOwnedBy(f, "successor"));
    assertFalse(Files.exists(f));
    assertFalse(Lockfiles.deleteIfOwnedBy(f, "successor"));
  }

  @Test
  void deleteIfOwnedByLeavesAnInvalidFileOrASymlinkAlone() throws Exception {
    Path real = dir.resolve("real.lock");
    Lockfiles.write(real, record("cache", "1", "me"));
    Path link = Files.createSymbolicLink(dir.resolve("cache.lock"), real);
    assertFalse(Lockfiles.deleteIfOwnedBy(link, "me"));
    assertTrue(Files.isSymbolicLink(link));
    Path garbage = dir.resolve("garbage.lock");
    Files.writeString(garbage, "instance-id=me\n");
    assertFalse(Lockfiles.deleteIfOwnedBy(garbage, "me"));
    assertTrue(Files.exists(garbage));
  }

  @Test
  void lockfileRecordValidatesItsComponents() throws Exception {
    Endpoint e = Endpoint.parse("unix:/tmp/a.sock");
    assertThrows(IllegalArgumentException.class, () -> new LockfileRecord("", 1, "t", "b", e, e, "v", "i"));
    assertThrows(IllegalArgumentException.class, () -> new LockfileRecord("s", 0, "t", "b", e, e, "v", "i"));
    assertThrows(IllegalArgumentException.class, () -> new LockfileRecord("s", 1, "t", "b", e, e, "v", ""));
    assertThrows(NullPointerException.class, () -> new LockfileRecord("s", 1, null, "b", e, e, "v", "i"));
    assertThrows(NullPointerException.class, () -> new LockfileRecord("s", 1, "t", "b", e, null, "v", "i"));
    String a = LockfileRecord.newInstanceId();
    assertTrue(a.matches("[0-9a-f]{32}"), a);
    if (a.equals(LockfileRecord.newInstanceId())) {
      fail("two instance ids were equal");
    }
  }
}
