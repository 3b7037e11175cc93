package dev.fastbind.backend.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;

class ReadinessTest {

  @Test
  void readyAndFailedMessagesRoundTripIncludingAwkwardReasons() throws IOException {
    Readiness.Message ready = Readiness.Message.ready(42, "abc123");
    assertEquals("READY pid=42 instance=abc123\n", ready.encode());
    assertEquals(ready, Readiness.Message.parse(ready.encode()));
    Readiness.Message failed = Readiness.Message.failed(7, "endpoint unix:/a b=c is already bound\nby pid 9 ü%");
    assertEquals(1, failed.encode().split("\n", -1).length - 1, "one line on the wire");
    assertEquals(failed, Readiness.Message.parse(failed.encode()));
  }

  @Test
  void unknownFieldsAreIgnoredSoTheFormatCanGrow() throws IOException {
    assertEquals(Readiness.Message.ready(5, "x"), Readiness.Message.parse("READY pid=5 instance=x later=1"));
  }

  @Test
  void malformedLinesAreTypedErrorsQuotingTheInput() {
    for (String bad : new String[] {"", "HELLO pid=1", "READY", "READY pid=x instance=y", "READY pid=3",
        "READY pid=3 instance", "FAILED pid=-1", "READY pid=1 instance=%zz"}) {
      IOException e = assertThrows(IOException.class, () -> Readiness.Message.parse(bad), bad);
      assertTrue(e.getMessage().startsWith("malformed readiness notification"), e.getMessage());
    }
  }
}
