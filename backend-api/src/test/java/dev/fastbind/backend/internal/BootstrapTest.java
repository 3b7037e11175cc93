package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BootstrapTest {

  @Test
  void onlyASocketDescriptorMayCarryAnInheritedListener(@TempDir Path dir) throws Exception {
    assumeTrue(Files.isDirectory(Path.of("/proc/self/fd")), "needs procfs");
    Path file = Files.writeString(dir.resolve("f"), "x");
    try (InputStream in = Files.newInputStream(file);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      server.bind(UnixDomainSocketAddress.of(dir.resolve("s.sock")));
      assertTrue(Bootstrap.mayBeSocket(descriptorLinkedTo("socket:")), "a socket");
      assertFalse(Bootstrap.mayBeSocket(descriptorLinkedTo(file.toRealPath().toString())), "a regular file");
      assertFalse(Bootstrap.mayBeSocket(Path.of("/proc/self/fd/999999")), "a closed descriptor");
    }
    assertTrue(Bootstrap.mayBeSocket(dir.resolve("no-procfs/0")), "without procfs the JDK decides");
  }

  /** An entry of /proc/self/fd whose link starts with {@code prefix}. */
  private static Path descriptorLinkedTo(String prefix) throws Exception {
    List<Path> fds;
    try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
      fds = s.collect(Collectors.toList());
    }
    for (Path fd : fds) {
      try {
        if (Files.readSymbolicLink(fd).toString().startsWith(prefix)) {
          return fd;
        }
      } catch (IOException gone) {
        // the directory stream's own descriptor, closed by now
      }
    }
    throw new AssertionError("no descriptor linked to " + prefix);
  }
}
