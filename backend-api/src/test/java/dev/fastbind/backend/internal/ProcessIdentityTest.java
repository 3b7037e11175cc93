package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
  void startTimeOfAChildDiffersFromOursAndIsEmptyAfterItExits() throws Exception {
    Process child = new ProcessBuilder("sleep", "30").start();
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
      child.destroyForcibly();
    }
  }

  @Test
  void startTimeReadsPastParenthesesAndSpacesInTheCommandName(@TempDir Path dir) throws Exception {
    assumeTrue(isLinux(), "procfs parsing is Linux only");
    Path sleep = Path.of("/bin/sleep");
    assumeTrue(Files.isExecutable(sleep), "needs /bin/sleep");
    Path odd = Files.copy(sleep, dir.resolve("a) b (c) 1 2"));
    Process child = new ProcessBuilder(odd.toString(), "30").start();
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(child.pid()), "stat"));
      assertTrue(stat.contains("(a) b (c) 1 2)"), stat);
      String token = ProcessIdentity.startTime(child.pid()).orElseThrow();
      assertEquals("ticks:" + stat.substring(stat.lastIndexOf(')') + 2).split(" ")[19], token);
    } finally {
      child.destroyForcibly();
      child.onExit().get(30, TimeUnit.SECONDS);
    }
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
  void bootIdIsNonEmptyAndStable() {
    String id = ProcessIdentity.bootId();
    assertFalse(id.isBlank());
    assertEquals(id.strip(), id);
    if (Files.exists(Path.of("/proc/sys/kernel/random/boot_id"))) {
      assertTrue(id.matches("[0-9a-f-]{36}"), id);
    }
  }

  @Test
  void currentUidOwnsTheFilesWeCreate(@TempDir Path dir) throws Exception {
    assumeTrue(isLinux(), "currentUid is Linux only for now");
    Path f = Files.createFile(dir.resolve("mine"));
    assertEquals(((Integer) Files.getAttribute(f, "unix:uid")).longValue(), ProcessIdentity.currentUid());
  }
}
