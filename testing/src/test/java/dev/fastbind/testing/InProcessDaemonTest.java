package dev.fastbind.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.loop.Codec;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class InProcessDaemonTest {

  @RegisterExtension
  final InProcessDaemonExtension echo = InProcessDaemonExtension.of("echo", EchoBackend::new);

  @Test
  void theExtensionServesEachTestThroughARealClient() throws Exception {
    assertEquals("echo hi", echo.daemon().client().call("hi", Codec.utf8()));
    assertEquals(ProcessHandle.current().pid(), echo.daemon().daemon().pid());
  }

  @Test
  void closeStopsTheBackendAndRemovesItsEndpoint() throws Exception {
    InProcessDaemon d = InProcessDaemon.start("closing", EchoBackend::new);
    Path socket = d.endpoint().path().orElseThrow();
    assertEquals("echo a", d.client().call("a", Codec.utf8()));
    assertTrue(Files.exists(socket));
    d.close();
    assertFalse(Files.exists(socket.getParent()), socket.getParent() + " is left");
    assertTrue(d.broker().status(d.definition()) instanceof ServiceStatus.Absent);
    d.close(); // idempotent
  }

  @Test
  void aDefinitionThatSpawnsIsRefusedNamingTheFix() {
    ServiceDefinition spawning = ServiceDefinition.builder("spawns").command("/bin/true").build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InProcessDaemon.start(spawning));
    assertTrue(e.getMessage().contains(".inProcess("), e.getMessage());
  }
}
