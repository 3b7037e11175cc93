package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.DeathRecords;
import dev.fastbind.testsupport.Await;
import dev.fastbind.testsupport.Signals;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every way a real daemon ends leaves a death record, and the next status, spawn and the record
 * itself name it: SHUTDOWN, idle timeout, requestShutdown, SIGTERM, serve throwing or returning
 * (recorded by the daemon), and kill -9 (completed by the broker).
 */
class DeathRecordTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() {
    Fixtures.killMarked(dir());
  }

  private ServiceDefinition cmd(String... extra) {
    String[] args = new String[extra.length + 1];
    args[0] = "cmd";
    System.arraycopy(extra, 0, args, 1, extra.length);
    return Fixtures.daemon(dir(), "svc", args).build();
  }

  /** Sends {@code line} to the daemon's main endpoint; the daemon may close without answering. */
  private static void send(DaemonInfo info, String line) throws IOException {
    try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      c.connect(UnixDomainSocketAddress.of(info.endpoint().path().orElseThrow()));
      c.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.US_ASCII)));
      ByteBuffer b = ByteBuffer.allocate(64);
      try {
        c.read(b);
      } catch (IOException closedUnderUs) {
        // the daemon is ending: what the test is about
      }
    }
  }

  /** Waits for {@code info}'s daemon to exit and returns the service's last death. */
  private DeathRecord deathOf(ServiceDefinition def, DaemonInfo info) throws IOException {
    Signals.awaitGone(info.pid(), Fixtures.PATIENT);
    DeathRecord d = Await.value(Fixtures.PATIENT, () -> {
      try {
        return broker.lastDeath(def).filter(r -> r.instanceId().equals(info.instanceId()));
      } catch (IOException e) {
        return Optional.empty();
      }
    }, () -> "no death record of pid " + info.pid());
    assertEquals(info.pid(), d.pid());
    assertEquals("svc", d.service());
    assertTrue(d.uptime().isPresent() && !d.uptime().get().isNegative(), "uptime: " + d);
    return d;
  }

  /** The next spawn's detail names the death, and so does the status before it. */
  private void nextStatusAndSpawnName(ServiceDefinition def, DeathRecord d, String words) throws IOException {
    ServiceStatus s = broker.status(def);
    Optional<DeathRecord> named = s instanceof ServiceStatus.Absent a ? a.lastDeath()
        : s instanceof ServiceStatus.Stale st ? st.lastDeath() : Optional.empty();
    assertEquals(Optional.of(d.instanceId()), named.map(DeathRecord::instanceId), "status names the death: " + s);
    DaemonInfo next = broker.ensureRunning(def);
    assertTrue(next.spawned());
    assertTrue(next.spawnDetail().contains("the previous daemon (pid " + d.pid() + ") ended: " + words),
        "spawn detail names the death: " + next.spawnDetail());
  }

  @Test
  void aStopLeavesAShutdownRequestRecordThatTheNextStatusAndSpawnName() throws Exception {
    ServiceDefinition def = cmd();
    DaemonInfo info = broker.ensureRunning(def);
    broker.stop(def);
    DeathRecord d = deathOf(def, info);
    assertEquals(DeathRecord.Cause.SHUTDOWN_REQUEST, d.cause());
    assertFalse(d.observedByBroker());
    assertEquals(OptionalInt.of(0), d.exitStatus());
    nextStatusAndSpawnName(def, d, "stopped by a SHUTDOWN request");
  }

  @Test
  void anIdleTimeoutLeavesAnIdleRecord() throws Exception {
    ServiceDefinition def = cmd("--idle-ms=300");
    DaemonInfo info = broker.ensureRunning(def);
    DeathRecord d = deathOf(def, info);
    assertEquals(DeathRecord.Cause.IDLE_TIMEOUT, d.cause());
    assertTrue(d.detail().contains("idle timeout PT0.3S"), d.detail());
    nextStatusAndSpawnName(def, d, "idle timeout");
  }

  @Test
  void requestShutdownLeavesTheBackendsReason() throws Exception {
    ServiceDefinition def = cmd();
    DaemonInfo info = broker.ensureRunning(def);
    send(info, "request");
    DeathRecord d = deathOf(def, info);
    assertEquals(DeathRecord.Cause.REQUESTED, d.cause());
    assertTrue(d.detail().contains("the test asked"), d.detail());
    nextStatusAndSpawnName(def, d, "the backend requested shutdown");
  }

  @Test
  void sigtermLeavesASigtermRecord() throws Exception {
    ServiceDefinition def = cmd();
    DaemonInfo info = broker.ensureRunning(def);
    Signals.send("TERM", info.pid());
    DeathRecord d = deathOf(def, info);
    assertEquals(DeathRecord.Cause.SIGTERM, d.cause());
    nextStatusAndSpawnName(def, d, "SIGTERM");
  }

  @Test
  void serveThrowingLeavesTheException() throws Exception {
    ServiceDefinition def = cmd();
    DaemonInfo info = broker.ensureRunning(def);
    send(info, "throw");
    DeathRecord d = deathOf(def, info);
    assertEquals(DeathRecord.Cause.SERVE_THREW, d.cause());
    assertTrue(d.detail().contains("IllegalStateException: the test made serve throw"), d.detail());
    assertEquals(OptionalInt.of(dev.fastbind.backend.Daemon.EXIT_SERVE_FAILED), d.exitStatus());
    assertTrue(d.logTail().contains("serve failed"), "the log tail is kept: " + d.logTail());
    nextStatusAndSpawnName(def, d, "serve threw java.lang.IllegalStateException");
  }

  @Test
  void serveReturningLeavesAServeReturnedRecord() throws Exception {
    ServiceDefinition def = cmd();
    DaemonInfo info = broker.ensureRunning(def);
    send(info, "return");
    DeathRecord d = deathOf(def, info);
    assertEquals(DeathRecord.Cause.SERVE_RETURNED, d.cause());
    nextStatusAndSpawnName(def, d, "serve returned");
  }

  @Test
  void kill9IsCompletedByTheBrokerWithTheSignalAndTheLogTail() throws Exception {
    ServiceDefinition def = cmd();
    DaemonInfo info = broker.awaitServing(broker.ensureRunning(def), Fixtures.PATIENT);
    Path log = dir().resolve("svc.log");
    Await.until(Fixtures.PATIENT, () -> {
      try {
        return java.nio.file.Files.readString(log).contains("serving commands");
      } catch (IOException e) {
        return false;
      }
    }, () -> "the daemon never logged its first line");
    Signals.kill(info.pid());
    Signals.awaitGone(info.pid(), Fixtures.PATIENT);
    ServiceStatus s = broker.status(def);
    ServiceStatus.Stale stale = assertInstanceOf(ServiceStatus.Stale.class, s);
    DeathRecord seen = stale.lastDeath().orElseThrow();
    assertEquals(DeathRecord.Cause.VANISHED, seen.cause());
    assertEquals(OptionalInt.of(137), seen.exitStatus(), "the broker's own child: its exit status is known");
    assertTrue(stale.detail().contains("killed by SIGKILL"), stale.detail());
    assertTrue(DeathRecords.files(dir().resolve("svc.lock")).isEmpty(), "status wrote nothing");

    DaemonInfo next = broker.ensureRunning(def);
    assertTrue(next.spawnDetail().contains("the previous daemon (pid " + info.pid() + ") ended: killed by SIGKILL"
        + " (exit status 137) after"), next.spawnDetail());
    assertTrue(next.spawnDetail().contains("log tail:") && next.spawnDetail().contains("serving commands"),
        next.spawnDetail() + "\nlog:\n" + java.nio.file.Files.readString(dir().resolve("svc.log")));
    List<Path> files = DeathRecords.files(dir().resolve("svc.lock"));
    assertEquals(1, files.size(), "the broker wrote the record: " + files);
    DeathRecord written = broker.lastDeath(def).orElseThrow();
    assertTrue(written.observedByBroker());
    assertEquals(info.instanceId(), written.instanceId());
  }
}
