package dev.fastbind.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import dev.fastbind.broker.StopResult;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RecordingBrokerTest {
  private static final ServiceDefinition HELLO = ServiceDefinition.builder("hello").command("/bin/true").build();

  @Test
  void recordsEachCallWithItsArgumentsAndOutcome() throws Exception {
    IOException boom = new IOException("boom");
    RecordingBroker broker = RecordingBroker.of(ScriptedBroker.create()
        .answer(BrokerOperation.STOP, StopResult.SHUT_DOWN)
        .fail(BrokerOperation.STATUS, boom));
    broker.stop(HELLO, Duration.ofSeconds(2));
    broker.stop(HELLO);
    assertThrows(IOException.class, () -> broker.status(HELLO));
    assertEquals(List.of(
        new RecordingBroker.Call(BrokerOperation.STOP, List.of(HELLO, Duration.ofSeconds(2)),
            Optional.of(StopResult.SHUT_DOWN), Optional.empty()),
        new RecordingBroker.Call(BrokerOperation.STOP, List.of(HELLO), Optional.of(StopResult.SHUT_DOWN),
            Optional.empty()),
        new RecordingBroker.Call(BrokerOperation.STATUS, List.of(HELLO), Optional.empty(), Optional.of(boom))),
        broker.calls());
    assertEquals(List.of(BrokerOperation.STOP, BrokerOperation.STOP, BrokerOperation.STATUS), broker.operations());
  }

  @Test
  void recordedCallsAreImmutableSnapshots() throws Exception {
    RecordingBroker broker = RecordingBroker.of(ScriptedBroker.create()
        .answer(BrokerOperation.STATUS, new ServiceStatus.Absent("hello")));
    broker.status(HELLO);
    List<RecordingBroker.Call> snapshot = broker.calls();
    broker.status(HELLO);
    assertEquals(1, snapshot.size());
    assertThrows(UnsupportedOperationException.class, () -> snapshot.get(0).arguments().add("x"));
    assertThrows(UnsupportedOperationException.class, () -> snapshot.add(snapshot.get(0)));
    broker.clear();
    assertEquals(List.of(), broker.calls());
  }
}
