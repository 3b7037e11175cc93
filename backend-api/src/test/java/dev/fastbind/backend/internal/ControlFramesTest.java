package dev.fastbind.backend.internal;

import dev.fastbind.backend.internal.wire.ControlFrames;
import dev.fastbind.backend.internal.wire.ControlProtocolException;
import dev.fastbind.backend.internal.wire.DaemonState;
import dev.fastbind.backend.internal.wire.HelloReply;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.internal.wire.ControlFrames.Decoder;
import dev.fastbind.backend.internal.wire.ControlFrames.Reply;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ControlFramesTest {

  private static byte[] bytes(ByteBuf buf) {
    byte[] b = new byte[buf.readableBytes()];
    buf.readBytes(b);
    buf.release();
    return b;
  }

  private static byte[] concat(byte[]... parts) {
    int n = 0;
    for (byte[] p : parts) {
      n += p.length;
    }
    byte[] all = new byte[n];
    int at = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, all, at, p.length);
      at += p.length;
    }
    return all;
  }

  @Test
  void frameIsBigEndianLengthThenUtf8Payload() {
    byte[] frame = bytes(ControlFrames.encodeFrame("é!"));
    assertEquals(4 + 3, frame.length);
    assertEquals(0, frame[0]);
    assertEquals(0, frame[1]);
    assertEquals(0, frame[2]);
    assertEquals(3, frame[3]);
    assertEquals((byte) 0xC3, frame[4]);
    assertEquals((byte) 0xA9, frame[5]);
    assertEquals('!', frame[6]);
  }

  @Test
  void framesSplitAcrossOneByteFeedsDecodeCorrectly() throws Exception {
    String big = "x".repeat(5000) + "ü€😀";
    byte[] stream = concat(bytes(ControlFrames.encodeFrame("HELLO")), bytes(ControlFrames.encodeFrame(big)),
        bytes(ControlFrames.encodeFrame("STATUS")));
    List<String> got = new ArrayList<>();
    try (Decoder d = new Decoder()) {
      for (byte b : stream) {
        d.feed(ByteBuffer.wrap(new byte[] {b}));
        for (Optional<String> p = d.poll(); p.isPresent(); p = d.poll()) {
          got.add(p.get());
        }
      }
      assertEquals(0, d.bufferedBytes());
    }
    assertEquals(List.of("HELLO", big, "STATUS"), got);
  }

  @Test
  void severalFramesInOneFeedAllDecode() throws Exception {
    byte[] stream = concat(bytes(ControlFrames.encodeFrame("A")), bytes(ControlFrames.encodeFrame("BB")));
    try (Decoder d = new Decoder()) {
      d.feed(Unpooled.wrappedBuffer(stream));
      assertEquals(Optional.of("A"), d.poll());
      assertEquals(Optional.of("BB"), d.poll());
      assertEquals(Optional.empty(), d.poll());
    }
  }

  @Test
  void maximumSizeFrameIsAccepted() throws Exception {
    String max = "y".repeat(ControlFrames.MAX_FRAME_BYTES);
    try (Decoder d = new Decoder()) {
      d.feed(ControlFrames.encodeFrame(max));
      assertEquals(Optional.of(max), d.poll());
    }
  }

  @Test
  void oversizedLengthPrefixIsRejectedBeforeThePayloadArrives() {
    try (Decoder d = new Decoder()) {
      d.feed(Unpooled.buffer().writeInt(ControlFrames.MAX_FRAME_BYTES + 1));
      ControlProtocolException e = assertThrows(ControlProtocolException.class, d::poll);
      assertTrue(e.getMessage().contains("bad frame length prefix " + (ControlFrames.MAX_FRAME_BYTES + 1)), e.getMessage());
    }
  }

  @Test
  void negativeAndZeroLengthPrefixesAreRejected() {
    for (int length : new int[] {-1, Integer.MIN_VALUE, 0}) {
      try (Decoder d = new Decoder()) {
        d.feed(Unpooled.buffer().writeInt(length));
        assertThrows(ControlProtocolException.class, d::poll, "length " + length);
      }
    }
  }

  @Test
  void invalidUtf8PayloadIsRejectedAndTheDecoderStaysFailed() {
    try (Decoder d = new Decoder()) {
      d.feed(Unpooled.buffer().writeInt(2).writeByte(0xC3).writeByte(0x28));
      assertThrows(ControlProtocolException.class, d::poll);
      d.feed(ControlFrames.encodeFrame("HELLO"));
      assertThrows(ControlProtocolException.class, d::poll);
    }
  }

  @Test
  void textGarbageIsRejectedAsABadLengthPrefix() {
    try (Decoder d = new Decoder()) {
      d.feed(Unpooled.copiedBuffer("GET / HTTP/1.1\r\n\r\n", java.nio.charset.StandardCharsets.US_ASCII));
      assertThrows(ControlProtocolException.class, d::poll);
    }
  }

  @Test
  void encodingRefusesEmptyAndOversizedPayloads() {
    assertThrows(IllegalArgumentException.class, () -> ControlFrames.encodeFrame(""));
    assertThrows(IllegalArgumentException.class,
        () -> ControlFrames.encodeFrame("z".repeat(ControlFrames.MAX_FRAME_BYTES + 1)));
  }

  @Test
  void replyValuesWithPercentEqualsAndControlCharactersRoundTrip() throws Exception {
    Map<String, String> fields = new LinkedHashMap<>();
    fields.put("phase", "50% done = half\nnext\rline\ttab\u0000nul\u007fdel\u0085nel");
    fields.put("unicode", "é€😀");
    fields.put("empty", "");
    fields.put("literal-escape", "%41 is not A");
    Reply reply = Reply.ok(fields);
    String payload = reply.toPayload();
    assertEquals(fields.size() + 1, payload.split("\n", -1).length - 1, "one line per field: " + payload);
    Reply back = Reply.parse(payload);
    assertEquals(reply, back);
    assertEquals(List.copyOf(fields.keySet()), List.copyOf(back.fields().keySet()));
  }

  @Test
  void escapedFormIsReadable() {
    assertEquals("50%25 done %3D half%0A", ControlFrames.escape("50% done = half\n"));
    assertEquals("plain", ControlFrames.escape("plain"));
  }

  @Test
  void errReplyRoundTripsItsReason() throws Exception {
    Reply err = Reply.error("unknown command 'X\nY'");
    assertTrue(err.toPayload().startsWith("ERR unknown command 'X%0AY'\n"), err.toPayload());
    Reply back = Reply.parse(err.toPayload());
    assertFalse(back.ok());
    assertEquals("unknown command 'X\nY'", back.error());
  }

  @Test
  void malformedRepliesAreRejected() {
    for (String bad : new String[] {"OK", "YES\n", "OK\nnoequals\n", "OK\n=v\n", "OK\nKey=v\n", "OK\na=1\na=2\n",
        "OK\na=%4\n", "OK\na=%zz\n", "ERR x\na=1\n"}) {
      assertThrows(ControlProtocolException.class, () -> Reply.parse(bad), bad);
    }
  }

  @Test
  void invalidKeysAreRefusedWhenBuildingAReply() {
    assertThrows(IllegalArgumentException.class, () -> Reply.ok(Map.of("Bad Key", "v")));
    assertThrows(IllegalArgumentException.class, () -> Reply.ok(Map.of("a=b", "v")));
  }

  @Test
  void helloReplyRoundTripsThroughFields() throws Exception {
    HelloReply hello = new HelloReply("cache", "1.2.3", 4242, "abc-123", DaemonState.WARMING, 40,
        Optional.of("loading index"));
    assertEquals(hello, HelloReply.fromFields(Reply.parse(Reply.ok(hello.toFields()).toPayload()).fields()));
    HelloReply ready = new HelloReply("cache", "1", 1, "i", DaemonState.READY, 100, Optional.empty());
    assertFalse(ready.toFields().containsKey("phase"));
    assertEquals(ready, HelloReply.fromFields(ready.toFields()));
  }

  @Test
  void helloFromFieldsRejectsMissingFieldsUnknownStatesAndOtherProtocols() {
    HelloReply hello = new HelloReply("cache", "1", 7, "i", DaemonState.READY, 100, Optional.empty());
    Map<String, String> missing = new LinkedHashMap<>(hello.toFields());
    missing.remove("pid");
    assertTrue(assertThrows(ControlProtocolException.class, () -> HelloReply.fromFields(missing))
        .getMessage().contains("'pid'"));
    Map<String, String> state = new LinkedHashMap<>(hello.toFields());
    state.put("state", "SLEEPING");
    assertThrows(ControlProtocolException.class, () -> HelloReply.fromFields(state));
    Map<String, String> protocol = new LinkedHashMap<>(hello.toFields());
    protocol.put("protocol", "2");
    assertThrows(ControlProtocolException.class, () -> HelloReply.fromFields(protocol));
    Map<String, String> progress = new LinkedHashMap<>(hello.toFields());
    progress.put("progress", "101");
    assertThrows(ControlProtocolException.class, () -> HelloReply.fromFields(progress));
  }
}
