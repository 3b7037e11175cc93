package dev.fastbind.examples.cache;

import dev.fastbind.conformance.BackendUnderTest;
import dev.fastbind.conformance.BrokeredBackendVerification;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;

/**
 * The conformance kit on the cache daemon, as a daemon author runs it: one subclass, one factory
 * method. The daemons the kit starts keep their blobs in a directory of this test (the
 * {@code cache.state-dir} property), never in the user's; rule 501 runs them with a 1 s idle timeout.
 */
class CacheBackendConformanceTest extends BrokeredBackendVerification {
  private static final Path STATE;

  static {
    try {
      STATE = Files.createTempDirectory("cache-conformance").resolve("state");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  protected BackendUnderTest backend() {
    return BackendUnderTest.of(CacheBackend.class, CacheBackend.class, CacheBackend.SERVICE, CacheBackend.VERSION)
        .withJavaOptions("-Dcache.state-dir=" + STATE)
        .withIdleTimeout(Duration.ofSeconds(1), "-Dcache.idle-ms=1000");
  }

  @AfterAll
  static void removeTheState() throws IOException {
    try (Stream<Path> all = Files.walk(STATE.getParent())) {
      for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
