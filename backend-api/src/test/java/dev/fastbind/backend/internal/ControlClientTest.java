package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.Endpoint;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ControlClientTest {

  @TempDir Path dir;

  @Test
  void clientGivesUpAtItsDeadlineWhenTheServerNeverAnswers() throws Exception {
    Path path = dir.resolve("mute.sock");
    Endpoint endpoint = Endpoint.unixPath(path);
    try (ServerSocketChannel mute = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      mute.bind(UnixDomainSocketAddress.of(path)); // listening, never accepted: like a SIGSTOPped daemon
      Duration timeout = Duration.ofMillis(300);
      long t0 = System.nanoTime();
      SocketTimeoutException e = assertThrows(SocketTimeoutException.class, () -> ControlClient.hello(endpoint, timeout));
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);

      assertTrue(ms >= 300, "gave up early: " + ms + " ms");
      assertTrue(ms < 300 + 2000, "gave up late: " + ms + " ms");
      assertTrue(e.getMessage().contains(endpoint.toString()), e.getMessage());
      assertTrue(e.getMessage().contains("300 ms"), e.getMessage());
    }
  }

  @Test
  void connectingWhereNobodyListensFailsNamingTheEndpoint() throws Exception {
    Endpoint endpoint = Endpoint.unixPath(dir.resolve("nobody.sock"));
    ConnectException e = assertThrows(ConnectException.class,
        () -> ControlClient.status(endpoint, Duration.ofSeconds(2)));
    assertTrue(e.getMessage().contains(endpoint.toString()), e.getMessage());
  }

  @Test
  void nonPositiveTimeoutIsRefused() throws Exception {
    Endpoint endpoint = Endpoint.unixPath(dir.resolve("x.sock"));
    assertThrows(IllegalArgumentException.class, () -> ControlClient.hello(endpoint, Duration.ZERO));
  }
}
