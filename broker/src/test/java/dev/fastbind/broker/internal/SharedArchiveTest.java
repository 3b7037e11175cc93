package dev.fastbind.broker.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.RequiresCapability;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The broker's class-data sharing plan, decided without starting a JVM; see ClassDataSharingTest for real daemons. */
class SharedArchiveTest {

  @TempDir Path tmp;
  private Path dir;
  private Path jdk;
  private String classPath;

  @BeforeEach
  void fakeJdkAndJars() throws Exception {
    dir = Files.createDirectory(tmp.resolve("rt"));
    jdk = tmp.resolve("jdk");
    Files.createDirectories(jdk.resolve("lib/server"));
    Files.write(jdk.resolve("lib/server/classes.jsa"), new byte[] {1});
    Path a = Files.write(tmp.resolve("a.jar"), new byte[] {1, 2, 3});
    Path b = Files.write(tmp.resolve("b.jar"), new byte[] {4, 5});
    classPath = a + File.pathSeparator + b;
  }

  private static ServiceDefinition.Builder java(String... options) {
    return ServiceDefinition.builder("svc").javaMain("com.example.Main").javaOptions(options);
  }

  private SharedArchive.Plan plan(ServiceDefinition def, int feature) {
    return SharedArchive.plan(def, dir, jdk.toString(), classPath, feature);
  }

  private static byte[] archiveBytes(int size) {
    ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.nativeOrder());
    b.putInt(0, SharedArchive.DYNAMIC_MAGIC);
    return b.array();
  }

  @Test
  void onJdk19AndLaterTheJvmCreatesAndRefreshesTheArchiveItself() throws Exception {
    SharedArchive.Plan p = plan(java("-Xmx64m").build(), 25);
    assertTrue(p.enabled());
    assertFalse(p.readsArchive(), "nothing to read yet");
    String name = p.archive().getFileName().toString();
    assertTrue(name.matches("svc\\.[0-9a-f]{12}\\.jsa"), name);
    assertEquals(dir, p.archive().getParent());
    assertEquals(List.of("-XX:SharedArchiveFile=" + p.archive(), "-XX:+AutoCreateSharedArchive", "-Xlog:cds*=off"),
        p.options());
    Files.write(p.archive(), archiveBytes(8192));
    assertTrue(plan(java("-Xmx64m").build(), 25).readsArchive());
  }

  @Test
  void onJdk17TheArchiveIsWrittenAtExitFirstAndMappedOnlyOnceItExists() throws Exception {
    SharedArchive.Plan first = plan(java().build(), 17);
    assertEquals(List.of("-XX:ArchiveClassesAtExit=" + first.archive(), "-Xlog:cds*=off"), first.options());
    assertFalse(first.readsArchive());
    assertTrue(first.archive().getFileName().toString().matches("svc\\.[0-9a-f]{12}-[0-9a-f]{8}\\.jsa"));
    Files.write(first.archive(), archiveBytes(8192));
    SharedArchive.Plan second = plan(java().build(), 17);
    assertEquals(first.archive(), second.archive());
    assertEquals(List.of("-XX:SharedArchiveFile=" + first.archive(), "-Xlog:cds*=off"), second.options());
    assertTrue(second.readsArchive());
  }

  @Test
  void onJdk17ARebuiltJarGetsANewArchiveAndTheStaleOneIsDeleted() throws Exception {
    SharedArchive.Plan first = plan(java().build(), 17);
    Files.write(first.archive(), archiveBytes(8192));
    Path otherService = Files.write(dir.resolve("other.0123456789ab-01234567.jsa"), archiveBytes(8192));
    Path jar = Path.of(classPath.split(File.pathSeparator)[0]);
    Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() - 60_000));
    SharedArchive.Plan rebuilt = plan(java().build(), 17);
    assertNotEquals(first.archive(), rebuilt.archive());
    assertFalse(rebuilt.readsArchive());
    assertFalse(Files.exists(first.archive()), "the archive of the old jar is gone");
    assertTrue(Files.exists(otherService), "other services' archives are left alone");
  }

  @Test
  void theKeySeparatesJdksClassPathsAndOptions() {
    Path base = plan(java().build(), 25).archive();
    assertEquals(base, plan(java().build(), 25).archive(), "stable");
    assertNotEquals(base, plan(java("-Xmx64m").build(), 25).archive());
    classPath = classPath + File.pathSeparator + tmp.resolve("c.jar");
    assertNotEquals(base, plan(java().build(), 25).archive());
  }

  @Test
  void aDamagedArchiveIsDeletedAndNotMapped() throws Exception {
    Path archive = plan(java().build(), 17).archive();
    for (byte[] bad : new byte[][] {new byte[0], new byte[8192], archiveBytes(100)}) {
      Files.write(archive, bad);
      SharedArchive.Plan p = plan(java().build(), 17);
      assertFalse(p.readsArchive());
      assertTrue(p.options().get(0).startsWith("-XX:ArchiveClassesAtExit="), p.options().toString());
      assertFalse(Files.exists(archive), "deleted so that the JVM writes a fresh one");
    }
    Files.write(archive, archiveBytes(8192));
    assertTrue(plan(java().build(), 17).readsArchive());
  }

  @Test
  void aLinkOrDirectoryAtTheArchivePathIsNeverMappedNorDeleted() throws Exception {
    Path archive = plan(java().build(), 25).archive();
    Path real = Files.write(tmp.resolve("real.jsa"), archiveBytes(8192));
    Files.createSymbolicLink(archive, real);
    assertFalse(plan(java().build(), 25).readsArchive());
    assertTrue(Files.isSymbolicLink(archive));
  }

  @Test
  @RequiresCapability(Capability.MKFIFO)
  void aFifoOrLinkAtTheArchivePathMeansNoSharingSoTheDaemonNeitherBlocksOnItNorWritesThroughIt() throws Exception {
    for (int feature : new int[] {25, 17}) {
      Path archive = plan(java().build(), feature).archive();
      Process mkfifo = new ProcessBuilder(Capability.MKFIFO.executable().toString(), archive.toString()).start();
      assertTrue(mkfifo.waitFor(10, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo");
      try {
        // A JVM told -XX:SharedArchiveFile=<a FIFO> waits in its open for a writer that never comes.
        assertSame(SharedArchive.Plan.NONE, assertTimeoutPreemptively(Duration.ofSeconds(20),
            () -> plan(java().build(), feature)), "JDK " + feature);
        assertTrue(Files.exists(archive), "the FIFO is left alone");
      } finally {
        FileChannel.open(archive, StandardOpenOption.READ, StandardOpenOption.WRITE).close();
        Files.delete(archive);
      }
      Files.createSymbolicLink(archive, tmp.resolve("elsewhere.jsa"));
      assertSame(SharedArchive.Plan.NONE, plan(java().build(), feature), "JDK " + feature + ", link");
      assertTrue(Files.isSymbolicLink(archive));
      Files.delete(archive);
    }
  }

  @Test
  void nothingIsAddedWhenOptedOutOrWhenTheDaemonControlsSharing() {
    assertSame(SharedArchive.Plan.NONE, plan(java().classDataSharing(false).build(), 25));
    for (String own : List.of("-Xshare:off", "-Xshare:on", "-XX:SharedArchiveFile=/x.jsa", "-XX:AOTCache=/x.aot",
        "-XX:ArchiveClassesAtExit=/x.jsa", "-XX:-AutoCreateSharedArchive", "-XX:AOTMode=off")) {
      assertSame(SharedArchive.Plan.NONE, plan(java(own).build(), 25), own);
    }
    assertTrue(plan(java("-Xshare:auto").build(), 25).enabled(), "-Xshare:auto is the default");
    assertSame(SharedArchive.Plan.NONE,
        plan(ServiceDefinition.builder("svc").command("/bin/true").build(), 25), "a command daemon");
  }

  @Test
  void nothingIsAddedForAClassPathWithADirectoryOrANonJarFileOrAJdkWithoutADefaultArchive() throws Exception {
    classPath = classPath + File.pathSeparator + Files.createDirectory(tmp.resolve("classes"));
    assertSame(SharedArchive.Plan.NONE, plan(java().build(), 25));
    assertNull(SharedArchive.jarsOnly(classPath));
    assertNull(SharedArchive.jarsOnly(""));
    Path pom = Files.writeString(tmp.resolve("dependency-1.0.pom"), "<project/>\n");
    assertNull(SharedArchive.jarsOnly(pom.toString()), "a file that is not a jar: the JVM would refuse the archive");
    fakeJdkAndJarsAgain();
    Files.delete(jdk.resolve("lib/server/classes.jsa"));
    assertSame(SharedArchive.Plan.NONE, plan(java().build(), 25));
  }

  private void fakeJdkAndJarsAgain() throws Exception {
    classPath = tmp.resolve("a.jar") + File.pathSeparator + tmp.resolve("b.jar");
    assertTrue(plan(java().build(), 25).enabled());
  }
}
