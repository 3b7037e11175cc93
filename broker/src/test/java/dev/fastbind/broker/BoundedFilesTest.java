package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.DeathRecords;
import dev.fastbind.backend.internal.wire.DeathRecordCodec;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runtime directory stays bounded: the live log while a daemon writes, and {@code Broker.clean}. */
class BoundedFilesTest {

  private static final long MIB = 1 << 20;

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() {
    Fixtures.killMarked(dir());
  }

  /** Sends {@code line} and reads the one-line answer. */
  private static String ask(DaemonInfo info, String line) throws IOException {
    try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      c.connect(UnixDomainSocketAddress.of(info.endpoint().path().orElseThrow()));
      c.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.US_ASCII)));
      ByteBuffer b = ByteBuffer.allocate(64);
      while (c.read(b) >= 0 && (b.position() == 0 || b.get(b.position() - 1) != '\n')) {
        // until the newline
      }
      return new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim();
    }
  }

  private static long size(Path p) {
    try {
      return Files.size(p);
    } catch (IOException e) {
      return 0;
    }
  }

  @Test
  void aDaemonWriting50MiBKeepsItsLogWithinTheBoundWhileItRuns() throws Exception {
    ServiceDefinition def = Fixtures.daemon(dir(), "chatty", "cmd").logLimit(MIB, 2).build();
    DaemonInfo info = broker.ensureRunning(def);
    Path log = dir().resolve("chatty.log");
    CompletableFuture<String> chat = CompletableFuture.supplyAsync(() -> {
      try {
        return ask(info, "chat 50");
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    long most = 0;
    // The documented bound: the limit plus what the daemon writes between two looks, at most 200 ms
    // apart (here at most about 25 MiB/s, so 5 MiB), with as much again for a loaded machine.
    long bound = MIB + 10 * MIB;
    while (!chat.isDone()) {
      most = Math.max(most, size(log));
      assertTrue(most <= bound, "the live log grew to " + most + " bytes, beyond " + bound);
      java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5)); // sampling, not waiting
    }
    assertEquals("done", chat.get(Fixtures.PATIENT.toSeconds(), TimeUnit.SECONDS));
    assertTrue(ProcessHandle.of(info.pid()).map(ProcessHandle::isAlive).orElse(false), "the daemon still runs");
    assertTrue(Files.exists(dir().resolve("chatty.log.1")) && Files.exists(dir().resolve("chatty.log.2")),
        "two generations were kept");
    assertFalse(Files.exists(dir().resolve("chatty.log.3")), "no third generation");
    long total = size(log) + size(dir().resolve("chatty.log.1")) + size(dir().resolve("chatty.log.2"));
    assertTrue(total <= 3 * bound, "log files hold " + total + " bytes of the 50 MiB written");
    assertTrue(most > 0, "the log was sampled while the daemon wrote");
    System.err.println("BoundedFilesTest: the live log peaked at " + most + " bytes (limit " + MIB + ")");
  }

  private static void age(Path p, Duration by) throws IOException {
    Files.setLastModifiedTime(p, FileTime.from(Instant.now().minus(by)));
  }

  @Test
  void cleanRemovesTheFilesOfServicesNotRunForLongAndNothingALiveDaemonUses() throws Exception {
    Duration month = Duration.ofDays(30);
    ServiceDefinition live = Fixtures.daemon(dir(), "live", "cmd").build();
    DaemonInfo running = broker.ensureRunning(live);
    // An old death record and rotated log of the live service age out; its own files stay.
    Path oldDeath = DeathRecords.write(dir().resolve("live.lock"), new DeathRecordCodec.Entry("live", 1, "",
        DeathRecordCodec.Cause.SIGTERM, "long ago", -1, 1000, -1, false, Optional.empty(), "daemon", ""));
    Path oldGeneration = Files.writeString(dir().resolve("live.log.1"), "old\n");
    try (var files = Files.list(dir())) {
      for (Path p : files.toList()) {
        if (p.getFileName().toString().startsWith("live") && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
          age(p, month); // a live daemon idle for a month: its files are old, and still its
        }
      }
    }

    // A service last run a month ago: lockfile, log, archive, death record and a dead socket.
    Path gone = dir().resolve("gone.lock");
    Files.writeString(gone, "not read: nothing lives here\n");
    Path goneLog = Files.writeString(dir().resolve("gone.log"), "bye\n");
    Path goneArchive = Files.write(dir().resolve("gone.0123abcd.jsa"), new byte[16]);
    Path goneSock = dir().resolve("gone.sock");
    try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      s.bind(UnixDomainSocketAddress.of(goneSock));
    }
    Path outside = Files.writeString(tmp.resolve("outside"), "never touched\n");
    Path link = Files.createSymbolicLink(dir().resolve("gone.spawns"), outside);
    for (Path p : List.of(gone, goneLog, goneArchive, goneSock)) {
      age(p, month);
    }
    // A service that ran an hour ago, and a file that belongs to no service.
    Path recent = Files.writeString(dir().resolve("recent.log"), "hi\n");
    age(recent, Duration.ofHours(1));
    Path foreign = Files.writeString(dir().resolve("README"), "mine\n");
    age(foreign, month);

    List<Path> removed = broker.clean(dir(), Duration.ofDays(7));

    assertEquals(java.util.Set.of(gone, goneLog, goneArchive, goneSock, oldDeath, oldGeneration),
        java.util.Set.copyOf(removed), "removed: " + removed);
    assertTrue(Files.isSymbolicLink(link) && Files.exists(outside), "a link is never removed or followed");
    assertTrue(Files.exists(recent) && Files.exists(foreign));
    for (String name : List.of("live.lock", "live.sock", "live.ctl", "live.log", "live.spawns")) {
      assertTrue(Files.exists(dir().resolve(name), LinkOption.NOFOLLOW_LINKS), name + " of the live daemon stays");
    }
    assertEquals(running.pid(), broker.ensureRunning(live).pid(), "the live daemon is still the one served");
    assertEquals(List.of(), broker.clean(dir(), Duration.ofDays(7)), "a second clean finds nothing");
  }

  @Test
  void cleanKeepsAServiceWhoseSpawnLockAnotherLauncherHolds() throws Exception {
    java.nio.file.Files.createDirectories(dir());
    java.nio.file.Files.setPosixFilePermissions(dir(), java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
    Path lockFile = Files.writeString(dir().resolve("starting.spawn-lock"), "");
    Path log = Files.writeString(dir().resolve("starting.log"), "old\n");
    age(lockFile, Duration.ofDays(30));
    age(log, Duration.ofDays(30));
    CompletableFuture<Void> release = new CompletableFuture<>();
    CompletableFuture<Void> holding = new CompletableFuture<>();
    Thread holder = new Thread(() -> {
      try (var lock = dev.fastbind.broker.internal.SpawnLock.acquire(lockFile, "starting", Duration.ofSeconds(5))) {
        holding.complete(null);
        release.get(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        holding.completeExceptionally(e);
      }
    }, "other-launcher");
    holder.start();
    try {
      holding.get(10, TimeUnit.SECONDS);
      assertEquals(List.of(), broker.clean(dir(), Duration.ofDays(7)), "a service being spawned is kept");
      assertTrue(Files.exists(log));
    } finally {
      release.complete(null);
      holder.join(10_000);
    }
    assertEquals(java.util.Set.of(lockFile, log), java.util.Set.copyOf(broker.clean(dir(), Duration.ofDays(7))),
        "once the lock is free the unused service goes");
  }
}
