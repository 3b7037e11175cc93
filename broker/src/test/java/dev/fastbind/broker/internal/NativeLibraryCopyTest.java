package dev.fastbind.broker.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runtime directory's copy of junixsocket's library: made once, used only when it is intact and ours. */
class NativeLibraryCopyTest {
  @TempDir Path tmp;
  private Path rt;

  @BeforeEach
  void runtimeDirectory() throws Exception {
    rt = Files.createDirectory(tmp.resolve("rt"), PosixFilePermissions.asFileAttribute(
        PosixFilePermissions.fromString("rwx------")));
  }

  private Path copy() throws Exception {
    try (Stream<Path> s = Files.list(rt.resolve("native"))) {
      List<Path> all = s.toList();
      assertEquals(1, all.size(), "one copy: " + all);
      return all.get(0);
    }
  }

  private static Path path(Optional<String> option) {
    return Path.of(option.orElseThrow().substring(("-D" + NativeLibraryCopy.PROPERTY + "=").length()));
  }

  @Test
  void theCopyIsJunixsocketsOwnLibraryAndIsOfferedOnceMade() throws Exception {
    assertEquals(Optional.empty(), NativeLibraryCopy.option(rt), "nothing before the first hand-off");
    NativeLibraryCopy.remember(rt);
    Path copy = copy();
    String version = NativeLibraryCopy.version().orElseThrow();
    assertTrue(copy.getFileName().toString().startsWith("junixsocket-" + version + "-"), copy.toString());
    assertEquals("r-x------", PosixFilePermissions.toString(Files.getPosixFilePermissions(copy)));
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(rt.resolve("native"))));
    String resource = "lib/" + System.getProperty("os.arch") + "-Linux-clang/jni/libjunixsocket-native-" + version + ".so";
    try (InputStream in = NativeLibraryCopy.class.getClassLoader().getResourceAsStream(resource)) {
      assertArrayEquals(in.readAllBytes(), Files.readAllBytes(copy), "the bytes junixsocket would extract");
    }
    assertEquals(copy, path(NativeLibraryCopy.option(rt)));
    NativeLibraryCopy.remember(rt);
    assertEquals(copy, copy(), "made once");
  }

  @Test
  void aCopyWhoseContentNoLongerMatchesItsNameIsNotUsedAndLeftAlone() throws Exception {
    NativeLibraryCopy.remember(rt);
    Path copy = copy();
    Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwx------"));
    byte[] damaged = Files.readAllBytes(copy);
    damaged[damaged.length / 2] ^= 0x5a;
    Files.write(copy, damaged);
    Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("r-x------"));
    assertEquals(Optional.empty(), NativeLibraryCopy.option(rt));
    assertTrue(Files.exists(copy), "not deleted");
  }

  @Test
  void aCopyOthersMayWriteOrOneBehindASymbolicLinkIsNotUsed() throws Exception {
    NativeLibraryCopy.remember(rt);
    Path copy = copy();
    Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("r-x-w----"));
    assertEquals(Optional.empty(), NativeLibraryCopy.option(rt), "group-writable");
    Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("r-x------"));

    Path elsewhere = Files.move(copy, tmp.resolve("elsewhere.so"));
    Files.createSymbolicLink(copy, elsewhere);
    assertEquals(Optional.empty(), NativeLibraryCopy.option(rt), "a link, even to an intact copy");
    assertTrue(Files.isSymbolicLink(copy), "the link is left alone");
  }

  @Test
  void aNativeDirectoryThatIsNotOwnerOnlyOrIsALinkIsNeitherUsedNorWrittenTo() throws Exception {
    Path dir = Files.createDirectory(rt.resolve("native"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwx---"));
    NativeLibraryCopy.remember(rt);
    try (Stream<Path> s = Files.list(dir)) {
      assertEquals(0, s.count(), "nothing written into a group-writable directory");
    }
    Files.delete(dir);
    Path other = Files.createDirectory(tmp.resolve("other"), PosixFilePermissions.asFileAttribute(
        PosixFilePermissions.fromString("rwx------")));
    Files.createSymbolicLink(dir, other);
    NativeLibraryCopy.remember(rt);
    try (Stream<Path> s = Files.list(other)) {
      assertEquals(0, s.count(), "nothing written through a link");
    }
    assertEquals(Optional.empty(), NativeLibraryCopy.option(rt));
    assertTrue(Files.isSymbolicLink(dir) && Files.exists(other, LinkOption.NOFOLLOW_LINKS), "both left alone");
  }
}
