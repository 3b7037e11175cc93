package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The death record format and its files: round trip, escaping, size cap, versions, bound, links. */
class DeathRecordsTest {

  @TempDir Path dir;

  private static DeathRecordCodec.Entry entry(long pid, long at, String tail) {
    return new DeathRecordCodec.Entry("svc", pid, "0123456789abcdef0123456789abcdef",
        DeathRecordCodec.Cause.SERVE_THREW, "serve threw java.lang.IllegalStateException: a=b\u2028c", 12, at, 5000,
        false, Optional.of("/run/x/hs_err_pid" + pid + ".log"), "daemon", tail);
  }

  @Test
  void aRecordRoundTripsWithNewlinesAndInvisibleCharactersEscaped() {
    DeathRecordCodec.Entry e = entry(42, 1_700_000_000_000L, "line 1\nline 2 %\n\u0007bell");
    byte[] bytes = DeathRecordCodec.encode(e);
    String text = new String(bytes, StandardCharsets.UTF_8);
    assertTrue(text.startsWith("fastbind-death 1\n"), text);
    assertEquals(14, text.split("\n").length, "one line per field: " + text);
    assertEquals(e, DeathRecordCodec.decode(bytes));
  }

  @Test
  void aHugeLogTailIsCutToKeepTheRecordWithinItsCapAndItsEnd() {
    String tail = "x".repeat(100_000) + "\nthe last line";
    byte[] bytes = DeathRecordCodec.encode(entry(1, 1, tail));
    assertTrue(bytes.length <= DeathRecordCodec.MAX_BYTES, "size " + bytes.length);
    assertTrue(DeathRecordCodec.decode(bytes).logTail().endsWith("the last line"));
  }

  @Test
  void aNewerFormatOrAnotherFileIsRefusedByName() {
    IllegalArgumentException newer = assertThrows(IllegalArgumentException.class,
        () -> DeathRecordCodec.decode("fastbind-death 2\ncause=X\n".getBytes(StandardCharsets.UTF_8)));
    assertTrue(newer.getMessage().contains("format 2 is newer"), newer.getMessage());
    IllegalArgumentException other = assertThrows(IllegalArgumentException.class,
        () -> DeathRecordCodec.decode("fastbind-lockfile 1\n".getBytes(StandardCharsets.UTF_8)));
    assertTrue(other.getMessage().contains("not a death record"), other.getMessage());
  }

  @Test
  void writingKeepsOnlyTheNewestRecordsOfTheSlotAndNoOtherSlots() throws Exception {
    Path lock = dir.resolve("svc.lock");
    Path keyedLock = dir.resolve("svc~ab12.lock");
    DeathRecords.write(keyedLock, entry(99, 5, ""));
    for (int i = 1; i <= DeathRecords.KEEP + 3; i++) {
      DeathRecords.write(lock, entry(100 + i, 1000L * i, "tail " + i));
    }
    List<DeathRecordCodec.Entry> kept = DeathRecords.list(lock);
    assertEquals(DeathRecords.KEEP, kept.size());
    assertEquals(100 + DeathRecords.KEEP + 3, kept.get(0).pid(), "newest first");
    assertEquals(1, DeathRecords.list(keyedLock).size(), "the side-by-side slot's record is its own");
    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(DeathRecords.files(lock).get(0))));
  }

  @Test
  void aLinkAmongTheRecordsIsNeitherReadNorRemoved() throws Exception {
    Path lock = dir.resolve("svc.lock");
    Path target = Files.writeString(dir.resolve("elsewhere"), "fastbind-death 1\n");
    Path link = Files.createSymbolicLink(dir.resolve("svc.death-9999999999999-1"), target);
    for (int i = 0; i < DeathRecords.KEEP + 1; i++) {
      DeathRecords.write(lock, entry(i + 1, 1000L + i, ""));
    }
    assertTrue(Files.isSymbolicLink(link));
    assertTrue(Files.exists(target));
    assertEquals(DeathRecords.KEEP, DeathRecords.list(lock).size());
  }
}
