package dev.fastbind.broker.internal;

import dev.fastbind.backend.internal.wire.ServiceLayout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.broker.RuntimeFileException;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile files at the runtime files' paths: FIFOs, links, directories, sparse giants, a full disk.
 * Each must be refused at once with the path and the fix, never deleted, never block, never exhaust.
 * {@code assertTimeoutPreemptively} is only the safety net that turns a hang into a failure.
 */
class RuntimeFilesTest {

  /** Far above anything here takes; a hang on a FIFO lasts forever. */
  private static final Duration NET = Duration.ofSeconds(20);

  @TempDir Path tmp;

  private final List<Path> fifos = new ArrayList<>();
  private Path mounted;

  @AfterEach
  void unblockAndUnmount() throws Exception {
    // A read-write open of a FIFO completes any open still blocked on it, so no thread stays stuck.
    for (Path f : fifos) {
      if (RuntimeFiles.kindOf(f) == RuntimeFiles.Kind.FIFO) {
        FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE).close();
      }
    }
    if (mounted != null) {
      run("umount", "-l", mounted.toString());
    }
  }

  private Path fifo(Path at) throws Exception {
    assertEquals(0, run(Capability.MKFIFO.executable().toString(), at.toString()), "mkfifo " + at);
    fifos.add(at);
    return at;
  }

  private static int run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    if (!p.waitFor(10, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor();
      return -1;
    }
    return p.exitValue();
  }

  private static void assertNamesPathAndFix(Path path, String found, Exception e) {
    String m = e.getMessage();
    assertTrue(m.contains(path.toString()), m);
    assertTrue(m.contains(found), m);
    assertTrue(m.contains("remove it"), m);
    assertFalse(m.contains("\n"), "one line: " + m);
  }

  // ----- the spawn lock

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoAtTheSpawnLockIsRefusedAtOnceNamingItAndTheFix() throws Exception {
    Path lock = fifo(tmp.resolve("svc.spawn-lock"));
    RuntimeFileException e = assertTimeoutPreemptively(NET, () -> assertThrows(RuntimeFileException.class,
        () -> SpawnLock.acquire(lock, "svc", Duration.ofSeconds(2))));
    assertNamesPathAndFix(lock, "is a FIFO, not a regular file", e);
    assertEquals(RuntimeFiles.Kind.FIFO, RuntimeFiles.kindOf(lock), "left alone");
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoSwappedInAfterTheLstatCannotBlockTheLockOpenNorBeLocked() throws Exception {
    Path real = Files.createFile(tmp.resolve("real"));
    Path lock = fifo(tmp.resolve("svc.spawn-lock"));
    RuntimeFileException e = assertTimeoutPreemptively(NET, () -> assertThrows(RuntimeFileException.class,
        () -> RuntimeFiles.openLockFile(lock, RuntimeFiles.lstat(real))));
    assertNamesPathAndFix(lock, "FIFO", e);
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoSwappedInAfterTheLstatCannotBlockARead() throws Exception {
    Path real = Files.writeString(tmp.resolve("real"), "abc");
    Path file = fifo(tmp.resolve("svc.spawns"));
    RuntimeFileException e = assertTimeoutPreemptively(NET, () -> assertThrows(RuntimeFileException.class,
        () -> RuntimeFiles.openRegular(file, RuntimeFiles.lstat(real))));
    assertNamesPathAndFix(file, "FIFO", e);
  }

  @Test
  void aLinkOrDirectoryAtTheSpawnLockIsRefusedAndKept() throws Exception {
    Path lock = tmp.resolve("svc.spawn-lock");
    Files.createSymbolicLink(lock, tmp.resolve("elsewhere"));
    RuntimeFileException e = assertThrows(RuntimeFileException.class,
        () -> SpawnLock.acquire(lock, "svc", Duration.ZERO));
    assertNamesPathAndFix(lock, "is a symbolic link", e);
    assertTrue(Files.isSymbolicLink(lock));
    assertFalse(Files.exists(tmp.resolve("elsewhere"), LinkOption.NOFOLLOW_LINKS), "not created through the link");
    Files.delete(lock);
    Files.createDirectories(lock.resolve("inside"));
    e = assertThrows(RuntimeFileException.class, () -> SpawnLock.acquire(lock, "svc", Duration.ZERO));
    assertNamesPathAndFix(lock, "is a directory", e);
  }

  // ----- the crash-loop record

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void anythingButARegularFileAtTheSpawnsFileIsReportedNeverDeleted() throws Exception {
    Path spawns = tmp.resolve("svc.spawns");
    Files.createSymbolicLink(spawns, tmp.resolve("target"));
    RuntimeFileException e = assertThrows(RuntimeFileException.class, () -> record(spawns));
    assertNamesPathAndFix(spawns, "is a symbolic link", e);
    assertTrue(Files.isSymbolicLink(spawns), "the link is kept");
    Files.delete(spawns);

    Files.createDirectories(spawns.resolve("inside"));
    e = assertThrows(RuntimeFileException.class, () -> record(spawns));
    assertNamesPathAndFix(spawns, "is a directory", e);
    assertTrue(Files.isDirectory(spawns.resolve("inside")), "the directory is kept");
    Files.delete(spawns.resolve("inside"));
    Files.delete(spawns);

    fifo(spawns);
    e = assertTimeoutPreemptively(NET, () -> assertThrows(RuntimeFileException.class, () -> record(spawns)));
    assertNamesPathAndFix(spawns, "is a FIFO", e);
    CrashLoopGuard.forget(spawns);
    assertEquals(RuntimeFiles.Kind.FIFO, RuntimeFiles.kindOf(spawns), "forget leaves it alone too");
  }

  @Test
  void aSpawnsFileLargerThanTheCapIsNotReadButCountsAsEmpty() throws Exception {
    Path spawns = tmp.resolve("svc.spawns");
    long now = System.nanoTime();
    StringBuilder b = new StringBuilder("fastbind-spawns 1\nboot ").append(ProcessIdentity.bootId()).append('\n');
    while (b.length() <= CrashLoopGuard.MAX_BYTES) {
      b.append(now).append('\n'); // thousands of recent spawns: a crash loop, if it were read
    }
    Files.writeString(spawns, b, StandardCharsets.US_ASCII);
    assertEquals(Optional.empty(), record(spawns), "past the cap the file counts as empty: the spawn is recorded");
    assertTrue(Files.size(spawns) < 200, "rewritten as a one-spawn record");
    assertFalse(Files.exists(RuntimeFiles.tempOf(spawns)));
  }

  @Test
  void aFullDiskLeavesNoSpawnsTempAndNamesThePathAndTheFix() throws Exception {
    Path dir = tmp.resolve("tiny");
    Files.createDirectories(dir);
    Assumptions.assumeTrue(run("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir.toString()) == 0,
        "needs root and a sandbox that lets it mount a tmpfs");
    mounted = dir;
    Path spawns = dir.resolve("svc.spawns");
    assertEquals(Optional.empty(), record(spawns), "room for the first record");
    byte[] block = new byte[4096];
    try (FileChannel filler = FileChannel.open(dir.resolve("filler"), StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE)) {
      while (true) {
        filler.write(java.nio.ByteBuffer.wrap(block));
      }
    } catch (IOException full) {
      // the file system is full now
    }
    RuntimeFileException e = assertThrows(RuntimeFileException.class, () -> record(spawns));
    String m = e.getMessage();
    assertTrue(m.contains(spawns.toString()) && m.contains("has space"), m);
    assertFalse(Files.exists(RuntimeFiles.tempOf(spawns), LinkOption.NOFOLLOW_LINKS), "the temp file is removed");
    assertTrue(Files.readString(spawns, StandardCharsets.US_ASCII).startsWith("fastbind-spawns 1\n"),
        "the old record is intact");
  }

  private static Optional<Duration> record(Path spawns) throws IOException {
    return CrashLoopGuard.tryRecord(spawns, 3, Duration.ofSeconds(30), System.nanoTime());
  }

  // ----- the log

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoAtTheLogNeitherBlocksTheTailNorIsPrepared() throws Exception {
    Path log = fifo(tmp.resolve("svc.log"));
    String tail = assertTimeoutPreemptively(NET, () -> LogFiles.tail(log, 0));
    assertTrue(tail.contains("log unreadable") && tail.contains(log + " is a FIFO"), tail);
    RuntimeFileException e = assertTimeoutPreemptively(NET,
        () -> assertThrows(RuntimeFileException.class, () -> LogFiles.prepare(log)));
    assertNamesPathAndFix(log, "is a FIFO", e);
  }

  @Test
  void aDirectoryAtTheRotatedLogIsReportedWithItsPathAndKept() throws Exception {
    Path log = tmp.resolve("svc.log");
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "rw")) {
      f.setLength(LogFiles.ROTATE_BYTES + 1);
    }
    Path old = Files.createDirectories(tmp.resolve("svc.log.1").resolve("inside")).getParent();
    RuntimeFileException e = assertThrows(RuntimeFileException.class, () -> LogFiles.prepare(log));
    assertNamesPathAndFix(old, "is a directory", e);
    assertTrue(Files.isDirectory(old.resolve("inside")));
    assertEquals(LogFiles.ROTATE_BYTES + 1, Files.size(log), "the log is where it was");
  }

  // ----- sockets: the notify socket, and the check Broker uses for its own

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void theNotifySocketNeverReplacesAFifoALinkADirectoryOrALiveSocket() throws Exception {
    Path notify = tmp.resolve("svc.notify");
    fifo(notify);
    RuntimeFileException e = assertTimeoutPreemptively(NET,
        () -> assertThrows(RuntimeFileException.class, () -> ReadinessWait.bind(notify)));
    assertNamesPathAndFix(notify, "is a FIFO, not a socket", e);
    assertEquals(RuntimeFiles.Kind.FIFO, RuntimeFiles.kindOf(notify));
    Files.delete(notify);

    Files.createSymbolicLink(notify, tmp.resolve("elsewhere.sock"));
    e = assertThrows(RuntimeFileException.class, () -> ReadinessWait.bind(notify));
    assertNamesPathAndFix(notify, "is a symbolic link", e);
    assertTrue(Files.isSymbolicLink(notify));
    Files.delete(notify);

    try (ServerSocketChannel live = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      live.bind(UnixDomainSocketAddress.of(notify));
      e = assertThrows(RuntimeFileException.class, () -> ReadinessWait.bind(notify));
      assertTrue(e.getMessage().contains(notify + " accepts connections"), e.getMessage());
      assertEquals(RuntimeFiles.Kind.SOCKET, RuntimeFiles.kindOf(notify), "a live listener's socket is kept");
    }
    // Now a dead socket file: replaced, and removed again on close.
    try (ReadinessWait w = ReadinessWait.bind(notify)) {
      assertEquals(RuntimeFiles.Kind.SOCKET, RuntimeFiles.kindOf(w.path()));
    }
    assertEquals(RuntimeFiles.Kind.ABSENT, RuntimeFiles.kindOf(notify));
  }

  @Test
  @RequiresCapability(Capability.PYTHON3)
  void clearDeadSocketLeavesASocketThatIsBoundButNotYetListening() throws Exception {
    // A stream socket bound to the path without listen(2): what a daemon is between its bind and its
    // listen. A connect is refused, yet the file is not dead. The JDK and junixsocket bind and listen
    // in one call, so a small python3 process (bounded: it ends by itself after 30 s) does the bind.
    Path python = Capability.PYTHON3.executable();
    Path sock = tmp.resolve("half.sock");
    Process half = new ProcessBuilder(python.toString(), "-c",
        "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); time.sleep(30)",
        sock.toString()).redirectErrorStream(true).start();
    try {
      Await.until(Duration.ofSeconds(10), () -> Files.exists(sock, LinkOption.NOFOLLOW_LINKS) || !half.isAlive(),
          () -> "python3 did not bind " + sock);
      assertTrue(half.isAlive(), "python3 exited without binding " + sock);
      assertFalse(Probe.connects(sock), "a connect is refused");
      assertSame(RuntimeFiles.SocketState.LIVE, RuntimeFiles.clearDeadSocket(sock));
      assertTrue(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "a half-started daemon's socket was removed");
    } finally {
      Cleanup.killTree(half);
    }
  }

  @Test
  void clearDeadSocketRemovesOnlyASocketNobodyListensOn() throws Exception {
    Path sock = tmp.resolve("svc.sock");
    assertSame(RuntimeFiles.SocketState.ABSENT, RuntimeFiles.clearDeadSocket(sock));
    try (ServerSocketChannel live = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      live.bind(UnixDomainSocketAddress.of(sock));
      assertSame(RuntimeFiles.SocketState.LIVE, RuntimeFiles.clearDeadSocket(sock));
      assertEquals(RuntimeFiles.Kind.SOCKET, RuntimeFiles.kindOf(sock));
    }
    assertSame(RuntimeFiles.SocketState.REMOVED, RuntimeFiles.clearDeadSocket(sock));
    assertEquals(RuntimeFiles.Kind.ABSENT, RuntimeFiles.kindOf(sock));

    Files.writeString(sock, "not a socket");
    RuntimeFileException e = assertThrows(RuntimeFileException.class, () -> RuntimeFiles.clearDeadSocket(sock));
    assertNamesPathAndFix(sock, "is a regular file, not a socket", e);
    assertTrue(Files.isRegularFile(sock, LinkOption.NOFOLLOW_LINKS));
    Files.delete(sock);
    Files.createSymbolicLink(sock, tmp.resolve("dangling"));
    assertThrows(RuntimeFileException.class, () -> RuntimeFiles.clearDeadSocket(sock));
    assertTrue(Files.isSymbolicLink(sock));
    Files.delete(sock);
    Files.createDirectory(sock);
    assertThrows(RuntimeFileException.class, () -> RuntimeFiles.clearDeadSocket(sock));
    assertTrue(Files.isDirectory(sock, LinkOption.NOFOLLOW_LINKS));
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void kindOfTellsEveryKindApart() throws Exception {
    assertEquals(RuntimeFiles.Kind.ABSENT, RuntimeFiles.kindOf(tmp.resolve("none")));
    assertEquals(RuntimeFiles.Kind.REGULAR, RuntimeFiles.kindOf(Files.createFile(tmp.resolve("f"))));
    assertEquals(RuntimeFiles.Kind.DIRECTORY, RuntimeFiles.kindOf(Files.createDirectory(tmp.resolve("d"))));
    assertEquals(RuntimeFiles.Kind.SYMLINK, RuntimeFiles.kindOf(Files.createSymbolicLink(tmp.resolve("l"), tmp)));
    assertEquals(RuntimeFiles.Kind.FIFO, RuntimeFiles.kindOf(fifo(tmp.resolve("p"))));
    assertEquals(RuntimeFiles.Kind.DEVICE, RuntimeFiles.kindOf(Path.of("/dev/null")));
    Path sock = tmp.resolve("s");
    try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      s.bind(UnixDomainSocketAddress.of(sock));
      assertEquals(RuntimeFiles.Kind.SOCKET, RuntimeFiles.kindOf(sock));
    }
  }

  // ----- stale temp files

  @Test
  void staleTempsOfDeadWritersAreRemovedAndNothingElse() throws Exception {
    Path dir = tmp.resolve("rt");
    Files.createDirectories(dir);
    ServiceLayout paths = ServiceLayout.of("svc", dir);
    Process gone = new ProcessBuilder("true").start();
    assertTrue(gone.waitFor(10, TimeUnit.SECONDS));
    String deadPid = Long.toHexString(gone.pid());
    String livePid = Long.toHexString(ProcessIdentity.currentPid());
    Path dead = Files.writeString(dir.resolve(".svc.lock." + deadPid + "-9f3a0c.tmp"), "torn");
    Path live = Files.writeString(dir.resolve(".svc.lock." + livePid + "-77.tmp"), "being written");
    Path deadDirectory = Files.createDirectories(dir.resolve(".svc.lock." + deadPid + "-1.tmp"));
    Path otherService = Files.writeString(dir.resolve(".other.lock." + deadPid + "-2.tmp"), "not ours");
    Path notATemp = Files.writeString(dir.resolve(".svc.lock.zz-2.tmp"), "not our name");
    Path spawnsTmp = Files.writeString(dir.resolve("svc.spawns.tmp"), "torn");
    Path lockfile = Files.writeString(dir.resolve("svc.lock"), "the record itself");

    List<Path> removed = RuntimeFiles.removeStaleTemps(paths);

    assertEquals(List.of(spawnsTmp, dead), removed);
    assertFalse(Files.exists(dead));
    assertFalse(Files.exists(spawnsTmp));
    for (Path kept : List.of(live, deadDirectory, otherService, notATemp, lockfile)) {
      assertTrue(Files.exists(kept, LinkOption.NOFOLLOW_LINKS), kept + " is kept");
    }
  }

  @Test
  void aSpawnsTempThatIsNotARegularFileIsLeftAloneAndReportedAtTheNextWrite() throws Exception {
    Path dir = tmp.resolve("rt");
    Files.createDirectories(dir.resolve("svc.spawns.tmp").resolve("inside"));
    ServiceLayout paths = ServiceLayout.of("svc", dir);
    assertEquals(List.of(), RuntimeFiles.removeStaleTemps(paths));
    RuntimeFileException e = assertThrows(RuntimeFileException.class, () -> record(paths.spawns()));
    assertNamesPathAndFix(dir.resolve("svc.spawns.tmp"), "is a directory", e);
    assertTrue(Files.isDirectory(dir.resolve("svc.spawns.tmp").resolve("inside")));
  }
}
