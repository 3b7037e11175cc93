package dev.fastbind.cli;

import static dev.fastbind.cli.CliHarness.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.testsupport.Signals;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI run as a real process against real daemons spawned through the broker, its --json parsed back. */
class CliProcessTest {

  @TempDir Path tmp;

  private final Broker broker = Broker.create();

  private Path dir() {
    return tmp.resolve("rt");
  }

  @AfterEach
  void noProcessLeft() {
    CliHarness.killMarked(tmp);
  }

  @SuppressWarnings("unchecked")
  private static List<Map<String, Object>> list(Map<String, Object> doc, String field) {
    return (List<Map<String, Object>>) doc.get(field);
  }

  @Test
  void listShowsEveryVerifiedDaemonWithPidVersionKeyStateUptimeAndMemory() throws Exception {
    DaemonInfo alpha = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "alpha", "2.1").build());
    DaemonInfo beside = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "alpha", "2.1")
        .compatibilityKey("index-format", "9").build());
    DaemonInfo beta = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "beta", "1.0").build());
    List<String> before = CliHarness.names(dir());

    CliHarness.Result json = run(tmp, "--runtime-dir", dir().toString(), "list", "--json");

    assertEquals(0, json.code(), json::toString);
    Map<String, Object> doc = json.json();
    assertEquals(1L, doc.get("schema"));
    assertEquals("list", doc.get("command"));
    List<Map<String, Object>> daemons = list(doc, "daemons");
    assertEquals(3, daemons.size(), json::toString);
    Map<String, Object> a = daemons.get(0);
    assertEquals("alpha", a.get("slot"));
    assertEquals(alpha.pid(), a.get("pid"));
    assertEquals("2.1", a.get("version"));
    assertEquals("ready", a.get("state"));
    assertEquals(100L, a.get("progressPercent"));
    assertTrue((Long) a.get("residentBytes") > 1 << 20, "a JVM's VmRSS: " + a.get("residentBytes"));
    assertTrue((Long) a.get("uptimeSeconds") >= 0);
    assertTrue(((String) a.get("compatibilityKeyId")).matches("[0-9a-f]{16}"), json::toString);
    Map<String, Object> b = daemons.get(1);
    assertEquals(beside.pid(), b.get("pid"));
    assertEquals("alpha~" + b.get("sideBySideId"), b.get("slot"));
    assertEquals(b.get("sideBySideId"), b.get("compatibilityKeyId"), "its file names carry its key's id");
    assertNotEquals(a.get("compatibilityKeyId"), b.get("compatibilityKeyId"));
    assertEquals(beta.pid(), daemons.get(2).get("pid"));

    CliHarness.Result text = run(tmp, "list", "--runtime-dir", dir().toString());
    assertEquals(0, text.code(), text::toString);
    assertTrue(text.out().startsWith("SERVICE"), text::toString);
    assertTrue(text.out().contains(Long.toString(beside.pid())) && text.out().contains("ready"), text::toString);
    assertTrue(text.out().contains("3 daemons in " + dir()), text::toString);
    assertEquals(before, CliHarness.names(dir()), "list changed no file");
  }

  @Test
  void statusExplainsARunningADaemonBesideItAndAKilledOne() throws Exception {
    DaemonInfo alpha = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "alpha", "2.1").build());
    broker.ensureRunning(CliHarness.daemon(dir(), tmp, "alpha", "2.1").compatibilityKey("index-format", "9").build());

    CliHarness.Result running = run(tmp, "--runtime-dir", dir().toString(), "--json", "status", "alpha", "--explain");

    assertEquals(0, running.code(), running::toString);
    Map<String, Object> doc = running.json();
    assertEquals(1L, doc.get("schema"));
    assertEquals("ready", doc.get("state"));
    List<Map<String, Object>> daemons = list(doc, "daemons");
    assertEquals(2, daemons.size());
    @SuppressWarnings("unchecked")
    Map<String, Object> first = (Map<String, Object>) daemons.get(0).get("explain");
    assertTrue(((String) first.get("why")).contains("answered HELLO"), running::toString);
    assertEquals(false, first.get("deathRecorded"));
    assertEquals("none recorded", first.get("lastDeath"));
    @SuppressWarnings("unchecked")
    Map<String, Object> second = (Map<String, Object>) daemons.get(1).get("explain");
    assertTrue(((String) second.get("besideTheFirst")).contains("index-format (none) \u2192 9"), running::toString);

    CliHarness.Result text = run(tmp, "--runtime-dir", dir().toString(), "status", "alpha", "--explain");
    assertEquals(0, text.code(), text::toString);
    assertTrue(text.out().contains("alpha: ready (pid " + alpha.pid() + ", version 2.1"), text::toString);
    assertTrue(text.out().contains("  why: ") && text.out().contains("  beside the first: "), text::toString);

    Signals.kill(alpha.pid());
    Signals.awaitGone(alpha.pid());
    CliHarness.Result killed = run(tmp, "--runtime-dir", dir().toString(), "status", "alpha", "--explain", "--json");

    assertEquals(0, killed.code(), "the daemon beside it still serves: " + killed);
    Map<String, Object> k = list(killed.json(), "daemons").get(0);
    assertEquals("stale", k.get("state"));
    assertEquals("DEAD_PID", k.get("reason"));
    @SuppressWarnings("unchecked")
    Map<String, Object> explain = (Map<String, Object>) k.get("explain");
    assertTrue(((String) explain.get("nextSpawnReason")).startsWith("DEAD_PID"), killed::toString);
    assertTrue(((String) explain.get("why")).contains("pid " + alpha.pid() + " is not running"), killed::toString);
    assertEquals(true, explain.get("deathRecorded"), killed::toString);
    assertTrue(((String) explain.get("lastDeath")).contains("pid " + alpha.pid() + ") ended"), killed::toString);
  }

  @Test
  void statusOfAServiceThatIsNotRunningExitsOneAndABadNameIsAUsageError() throws Exception {
    CliHarness.Result absent = run(tmp, "--runtime-dir", dir().toString(), "status", "nothing", "--json");
    assertEquals(1, absent.code(), absent::toString);
    assertEquals("absent", absent.json().get("state"));
    assertFalse(Files.exists(dir()), "status created no directory");

    CliHarness.Result bad = run(tmp, "--runtime-dir", dir().toString(), "status", "Not_A_Name");
    assertEquals(2, bad.code(), bad::toString);
    assertTrue(bad.err().contains("invalid service name 'Not_A_Name'"), bad::toString);
    assertEquals(2, run(tmp, "status").code(), "a missing SERVICE is a usage error");
    assertEquals(2, run(tmp, "stop", "alpha", "--all").code(), "SERVICE and --all exclude each other");
  }

  @Test
  void stopStopsVerifiedDaemonsAndRefusesUntrustedStateLeavingItAsFound() throws Exception {
    DaemonInfo alpha = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "alpha", "1.0").build());
    DaemonInfo beside = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "alpha", "1.0")
        .compatibilityKey("index-format", "9").build());
    DaemonInfo beta = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "beta", "1.0").build());

    CliHarness.Result stopped = run(tmp, "--runtime-dir", dir().toString(), "stop", "alpha", "--json");

    assertEquals(0, stopped.code(), stopped::toString);
    List<Map<String, Object>> results = list(stopped.json(), "results");
    assertEquals(List.of("SHUT_DOWN", "SHUT_DOWN"), results.stream().map(r -> r.get("result")).toList(),
        stopped::toString);
    Signals.awaitGone(alpha.pid());
    Signals.awaitGone(beside.pid());
    assertTrue(ProcessHandle.of(beta.pid()).map(ProcessHandle::isAlive).orElse(false), "only alpha's daemons");

    CliHarness.Result again = run(tmp, "--runtime-dir", dir().toString(), "stop", "alpha");
    assertEquals(1, again.code(), again::toString);
    assertTrue(again.out().contains("alpha: not running"), again::toString);

    Path target = Files.writeString(tmp.resolve("elsewhere"), "x");
    Path link = Files.createSymbolicLink(dir().resolve("gamma.lock"), target);
    CliHarness.Result all = run(tmp, "--runtime-dir", dir().toString(), "stop", "--all", "--json");

    assertEquals(3, all.code(), "gamma's lockfile is a link, so stop refuses it: " + all);
    Map<String, String> byslot = new java.util.TreeMap<>();
    for (Map<String, Object> r : list(all.json(), "results")) {
      byslot.put((String) r.get("slot"), (String) r.get("result"));
    }
    assertEquals(Map.of("beta", "SHUT_DOWN", "gamma", "REFUSED"), byslot);
    Signals.awaitGone(beta.pid());
    assertTrue(Files.isSymbolicLink(link), "the refused link was left as found");
  }

  @Test
  void logsPrintsTheTailAndFollowsAppendsAndARotation() throws Exception {
    DaemonInfo alpha = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "alpha", "1.0").build());
    Path log = dir().resolve("alpha.log");
    String serving = "cli test daemon " + alpha.pid() + " serving";
    dev.fastbind.testsupport.Await.until(CliHarness.PATIENT, () -> contains(log, serving), () -> "log: " + log);

    CliHarness.Result tail = run(tmp, "--runtime-dir", dir().toString(), "logs", "alpha", "--json");
    assertEquals(0, tail.code(), tail::toString);
    @SuppressWarnings("unchecked")
    List<String> lines = (List<String>) tail.json().get("lines");
    assertTrue(lines.contains(serving), tail::toString);
    assertEquals(1, run(tmp, "--runtime-dir", dir().toString(), "logs", "nothing").code(), "no log: exit 1");

    try (Follower f = new Follower(tmp, "--runtime-dir", dir().toString(), "logs", "alpha", "-f", "-n", "5")) {
      f.await(serving);
      askPid(alpha); // the daemon itself appends a line
      f.await("cli test daemon " + alpha.pid() + " answered connection 1");
      // Rotate as the broker does: move the log to alpha.log.1, start a new one.
      Files.writeString(log, "last line of the old generation\n", java.nio.file.StandardOpenOption.APPEND);
      f.await("last line of the old generation");
      Files.move(log, dir().resolve("alpha.log.1"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      Files.writeString(log, "first line of the new generation\n");
      f.await("first line of the new generation");
      f.awaitErr("was rotated");
    }
  }

  @Test
  void doctorReportsStaleFilesLeftoversAndModesAndChangesNothing() throws Exception {
    DaemonInfo alpha = broker.ensureRunning(CliHarness.daemon(dir(), tmp, "alpha", "1.0").build());
    broker.ensureRunning(CliHarness.daemon(dir(), tmp, "beta", "1.0").build());
    Signals.kill(alpha.pid());
    Signals.awaitGone(alpha.pid());
    Files.writeString(dir().resolve("zeta.sock"), "");
    Files.setPosixFilePermissions(dir().resolve("beta.log"),
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    List<String> before = CliHarness.names(dir());

    CliHarness.Result r = run(tmp, Map.of("XDG_RUNTIME_DIR", ""), List.of(), "--runtime-dir", dir().toString(),
        "doctor", "--json");

    assertEquals(0, r.code(), "warnings only: " + r);
    Map<String, Object> doc = r.json();
    assertEquals(1L, doc.get("schema"));
    Map<String, List<Map<String, Object>>> byCheck = new java.util.TreeMap<>();
    for (Map<String, Object> c : list(doc, "checks")) {
      byCheck.computeIfAbsent((String) c.get("check"), x -> new java.util.ArrayList<>()).add(c);
    }
    assertEquals("ok", byCheck.get("directory").get(0).get("level"), r::toString);
    Map<String, Object> stale = byCheck.get("stale-lockfile").get(0);
    assertEquals("warn", stale.get("level"));
    assertTrue(((String) stale.get("detail")).contains("DEAD_PID"), r::toString);
    assertTrue(((String) byCheck.get("leftover-files").get(0).get("detail")).contains("zeta.sock"), r::toString);
    assertTrue(((String) byCheck.get("file-modes").get(0).get("detail")).contains("beta.log"), r::toString);
    assertEquals("warn", byCheck.get("xdg-runtime-dir").get(0).get("level"), "XDG_RUNTIME_DIR is empty: " + r);
    assertEquals("ok", byCheck.get("socket-paths").get(0).get("level"), r::toString);
    assertNotNull(byCheck.get("systemd"));
    assertEquals(before, CliHarness.names(dir()), "doctor deleted and created nothing");

    Files.setPosixFilePermissions(dir(), java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    CliHarness.Result open = run(tmp, "--runtime-dir", dir().toString(), "doctor");
    assertEquals(6, open.code(), open::toString);
    assertTrue(open.out().contains("chmod 700 " + dir()), open::toString);
    Files.setPosixFilePermissions(dir(), java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
  }

  @Test
  void doctorFindsOneServiceRunningInBothTheXdgAndTheFallbackDirectory() throws Exception {
    Path xdg = Files.createDirectories(tmp.resolve("xdg"));
    Path tmpdir = Files.createDirectories(tmp.resolve("t"));
    Path fallback = tmpdir.resolve("fastbind-" + System.getProperty("user.name"));
    DaemonInfo inXdg = broker.ensureRunning(CliHarness.daemon(xdg.resolve("fastbind"), tmp, "alpha", "1.0").build());
    DaemonInfo inFallback = broker.ensureRunning(CliHarness.daemon(fallback, tmp, "alpha", "1.0").build());

    CliHarness.Result r = run(tmp, Map.of("XDG_RUNTIME_DIR", xdg.toString()), List.of("-Djava.io.tmpdir=" + tmpdir),
        "doctor", "--json");

    assertEquals(6, r.code(), r::toString);
    assertEquals(xdg.resolve("fastbind").toString(), r.json().get("runtimeDirectory"), "the default follows XDG");
    Map<String, Object> both = list(r.json(), "checks").stream().filter(c -> c.get("check").equals("two-directories"))
        .findFirst().orElseThrow();
    assertEquals("problem", both.get("level"));
    String detail = (String) both.get("detail");
    assertTrue(detail.contains("alpha") && detail.contains(Long.toString(inXdg.pid()))
        && detail.contains(Long.toString(inFallback.pid())), detail);
  }

  @Test
  void cleanRemovesTheFilesOfAServiceUnusedForLongAndListsThem() throws Exception {
    Files.createDirectories(dir());
    Files.setPosixFilePermissions(dir(), java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
    Path log = Files.writeString(dir().resolve("gone.log"), "old output");
    Files.setLastModifiedTime(log, java.nio.file.attribute.FileTime.from(
        java.time.Instant.now().minus(java.time.Duration.ofDays(30))));
    CliHarness.Result r = run(tmp, "--runtime-dir", dir().toString(), "clean", "--unused-for=P1D", "--json");
    assertEquals(0, r.code(), r::toString);
    assertEquals(List.of(log.toString()), r.json().get("removed"), r::toString);
    assertFalse(Files.exists(log));
  }

  private static boolean contains(Path file, String text) {
    try {
      return Files.exists(file) && Files.readString(file).contains(text);
    } catch (java.io.IOException e) {
      return false;
    }
  }

  private static void askPid(DaemonInfo d) throws Exception {
    try (java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(
        java.net.UnixDomainSocketAddress.of(d.endpoint().path().orElseThrow()))) {
      java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(32);
      while (c.read(buf) >= 0 && buf.position() < 32) {
        // read until the daemon closes
      }
    }
  }
}
