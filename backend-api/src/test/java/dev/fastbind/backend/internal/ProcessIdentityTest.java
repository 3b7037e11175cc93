package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessIdentityTest {

  private static boolean isLinux() {
    return System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux");
  }

  @Test
  void startTimeOfOurOwnPidIsPresentAndStable() {
    long pid = ProcessIdentity.currentPid();
    assertEquals(ProcessHandle.current().pid(), pid);
    Optional<String> first = ProcessIdentity.startTime(pid);
    assertTrue(first.isPresent());
    assertEquals(first, ProcessIdentity.startTime(pid));
    assertTrue(first.get().startsWith(isLinux() ? "ticks:" : "instant:"), first.get());
    assertTrue(ProcessIdentity.isSameProcess(pid, first.get()));
  }

  @Test
  @RequiresCapability(Capability.SLEEP)
  void startTimeOfAChildDiffersFromOursAndIsEmptyAfterItExits() throws Exception {
    Process child = new ProcessBuilder(Capability.SLEEP.executable().toString(), "30").start();
    try {
      String ours = ProcessIdentity.startTime(ProcessIdentity.currentPid()).orElseThrow();
      String theirs = ProcessIdentity.startTime(child.pid()).orElseThrow();
      assertNotEquals(ours, theirs);
      assertTrue(ProcessIdentity.isSameProcess(child.pid(), theirs));
      child.destroy();
      child.onExit().get(30, TimeUnit.SECONDS);
      assertEquals(Optional.empty(), ProcessIdentity.startTime(child.pid()));
      assertFalse(ProcessIdentity.isSameProcess(child.pid(), theirs));
    } finally {
      Cleanup.killTree(child);
    }
  }

  @Test
  @RequiresCapability(Capability.SLEEP)
  void startTimeReadsPastParenthesesAndSpacesInTheCommandName(@TempDir Path dir) throws Exception {
    assumeTrue(isLinux(), "procfs parsing is Linux only");
    Path sleep = Capability.SLEEP.executable();
    Path odd = Files.copy(sleep, dir.resolve("a) b (c) 1 2"));
    Process child = new ProcessBuilder(odd.toString(), "30").start();
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(child.pid()), "stat"));
      assertTrue(stat.contains("(a) b (c) 1 2)"), stat);
      String token = ProcessIdentity.startTime(child.pid()).orElseThrow();
      assertEquals("ticks:" + stat.substring(stat.lastIndexOf(')') + 2).split(" ")[19], token);
    } finally {
      Cleanup.killTree(child);
    }
  }

  @Test
  void statReadsStateGroupAndStartTimeInOneReading() throws Exception {
    assumeTrue(isLinux(), "procfs is Linux only");
    long pid = ProcessIdentity.currentPid();
    ProcessIdentity.Stat s = ProcessIdentity.stat(pid);
    String line = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    String[] f = line.substring(line.lastIndexOf(')') + 2).split(" ");
    assertEquals(f[0].charAt(0), s.state());
    assertEquals(Long.parseLong(f[2]), s.processGroup());
    assertEquals(ProcessIdentity.startTime(pid).orElseThrow(), s.startTime());
    assertFalse(s.stopped());
    assertFalse(s.exited());
    assertEquals(null, ProcessIdentity.stat(Integer.MAX_VALUE));
  }

  @Test
  void parseStatRefusesLinesItCannotReadFully() {
    String good = "42 (a) b) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2\n";
    ProcessIdentity.Stat s = parse(good);
    assertEquals('S', s.state());
    assertEquals(42, s.processGroup());
    assertEquals("ticks:987654", s.startTime());
    assertEquals('Z', parse(good.replace(" S ", " Z ")).state());
    assertTrue(parse(good.replace(" S ", " Z ")).exited());
    assertTrue(parse(good.replace(" S ", " t ")).stopped());
    assertEquals(null, parse("42 (a) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0\n"), "no start time");
    assertEquals(null, parse(good.replace("987654", "98x654")), "start time not a number");
    assertEquals(null, parse(good.replace(" S ", " SS ")), "state not one letter");
    assertEquals(null, parse(good.replace(" 1 42 42 ", " 1 -42 42 ")), "group not a number");
    assertEquals(null, parse("42 a S 1 42 42\n"), "no ')'");
    assertEquals(null, parse(""), "empty");
  }

  private static ProcessIdentity.Stat parse(String line) {
    byte[] b = line.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    return ProcessIdentity.parseStat(b, b.length);
  }

  @Test
  void isSameProcessIsFalseForAStartTimeThatDoesNotMatch() {
    long pid = ProcessIdentity.currentPid();
    String real = ProcessIdentity.startTime(pid).orElseThrow();
    assertFalse(ProcessIdentity.isSameProcess(pid, "ticks:1"));
    assertFalse(ProcessIdentity.isSameProcess(pid, real.replaceFirst("^[a-z]+:", "other:")));
    assertFalse(ProcessIdentity.isSameProcess(pid, ""));
  }

  @Test
  void startTimeOfAPidThatCannotExistIsEmpty() {
    assertEquals(Optional.empty(), ProcessIdentity.startTime(Integer.MAX_VALUE));
    assertFalse(ProcessIdentity.isSameProcess(Integer.MAX_VALUE, "ticks:1"));
    assertThrows(IllegalArgumentException.class, () -> ProcessIdentity.startTime(0));
  }

  @Test
  void bootIdIsNonEmptyAndStable() throws Exception {
    String id = ProcessIdentity.bootId();
    assertFalse(id.isBlank());
    assertEquals(id.strip(), id);
    assertEquals(id, ProcessIdentity.bootId());
    Path kernel = Path.of("/proc/sys/kernel/random/boot_id");
    if (Files.exists(kernel)) {
      assertEquals(Files.readString(kernel).strip(), id);
    }
  }

  @Test
  void currentUidOwnsTheFilesWeCreate(@TempDir Path dir) throws Exception {
    assumeTrue(isLinux(), "currentUid is Linux only for now");
    Path f = Files.createFile(dir.resolve("mine"));
    assertEquals(((Integer) Files.getAttribute(f, "unix:uid")).longValue(), ProcessIdentity.currentUid());
  }
}
