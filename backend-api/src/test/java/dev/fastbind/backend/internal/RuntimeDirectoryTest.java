package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RuntimeDirectoryTest {

  @TempDir Path parent;

  private static String mode(Path p) throws IOException {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
  }

  private static Path dirWithMode(Path p, String mode) throws IOException {
    Files.createDirectory(p);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
    return p;
  }

  @Test
  void createsAMissingDirectoryOwnerOnly() throws Exception {
    Path dir = parent.resolve("rt");
    assertEquals(dir, RuntimeDirectory.ensureOwnerOnly(dir));
    assertTrue(Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS));
    assertEquals("rwx------", mode(dir));
  }

  @Test
  void acceptsAnExistingOwnerOnlyDirectoryTwice() throws Exception {
    Path dir = dirWithMode(parent.resolve("rt"), "rwx------");
    Files.writeString(dir.resolve("keep"), "x");
    assertEquals(dir, RuntimeDirectory.ensureOwnerOnly(dir));
    assertEquals(dir, RuntimeDirectory.ensureOwnerOnly(dir));
    assertEquals("x", Files.readString(dir.resolve("keep")));
    assertEquals("rwx------", mode(dir));
  }

  @ParameterizedTest
  @ValueSource(strings = {"rwxr-xr-x", "rwxrwxrwx", "rwx-----x", "rwx-w----"})
  void refusesADirectoryOpenToGroupOrOthersAndLeavesItUntouched(String found) throws Exception {
    Path dir = dirWithMode(parent.resolve("rt"), found);
    UnsafeRuntimeDirectoryException e =
        assertThrows(UnsafeRuntimeDirectoryException.class, () -> RuntimeDirectory.ensureOwnerOnly(dir));
    assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("chmod 700 " + dir), e.getMessage());
    assertTrue(e.getMessage().contains(found), e.getMessage());
    assertEquals(found, mode(dir));
  }

  @Test
  void refusesASymlinkToAGoodDirectory() throws Exception {
    Path good = dirWithMode(parent.resolve("good"), "rwx------");
    RuntimeDirectory.ensureOwnerOnly(good);
    Path link = Files.createSymbolicLink(parent.resolve("rt"), good);
    UnsafeRuntimeDirectoryException e =
        assertThrows(UnsafeRuntimeDirectoryException.class, () -> RuntimeDirectory.ensureOwnerOnly(link));
    assertTrue(e.getMessage().contains(link.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
    assertTrue(Files.isSymbolicLink(link));
  }

  @Test
  void refusesARegularFileAtThePath() throws Exception {
    Path file = Files.writeString(parent.resolve("rt"), "not a dir");
    assertThrows(UnsafeRuntimeDirectoryException.class, () -> RuntimeDirectory.ensureOwnerOnly(file));
    assertEquals("not a dir", Files.readString(file));
  }

  @Test
  void refusesADirectoryOwnedByAnotherUserAndLeavesItUntouched() throws Exception {
    assumeTrue(ProcessIdentity.currentUid() == 0, "only root can give a directory away");
    Path dir = dirWithMode(parent.resolve("rt"), "rwx------");
    Files.setAttribute(dir, "unix:uid", 65534);
    try {
      UnsafeRuntimeDirectoryException e =
          assertThrows(UnsafeRuntimeDirectoryException.class, () -> RuntimeDirectory.ensureOwnerOnly(dir));
      assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
      assertTrue(e.getMessage().contains("owned by uid 65534"), e.getMessage());
      assertEquals(65534, Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS));
      assertEquals("rwx------", mode(dir));
    } finally {
      Files.setAttribute(dir, "unix:uid", 0);
    }
  }

  @Test
  void refusesToCreateMoreThanTheLastComponent() throws Exception {
    Path dir = parent.resolve("missing").resolve("rt");
    IOException e = assertThrows(IOException.class, () -> RuntimeDirectory.ensureOwnerOnly(dir));
    assertFalse(e instanceof UnsafeRuntimeDirectoryException);
    assertTrue(e.getMessage().contains(parent.resolve("missing").toString()), e.getMessage());
    assertFalse(Files.exists(parent.resolve("missing")));
  }

  @Test
  void defaultForUsesXdgRuntimeDirOrTheTempDirectory() {
    Path p = RuntimeDirectory.defaultFor("fastbind");
    String xdg = System.getenv("XDG_RUNTIME_DIR");
    if (xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute()) {
      assertEquals(Path.of(xdg, "fastbind"), p);
    } else {
      assertEquals(Path.of(System.getProperty("java.io.tmpdir"), "fastbind-" + System.getProperty("user.name")), p);
    }
    assertThrows(IllegalArgumentException.class, () -> RuntimeDirectory.defaultFor("a/b"));
    assertThrows(IllegalArgumentException.class, () -> RuntimeDirectory.defaultFor(""));
  }
}
