package dev.fastbind.backend.internal.wire;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The request loop's frames, version 1 ({@code docs/wire.md}, "Request loop protocol"): what the
 * daemon's {@code RequestLoop} and the launcher's {@code DaemonClient} both write and read, defined
 * once here.
 *
 * <p>A frame is a 4-byte big-endian unsigned payload length {@code n}, one kind byte, then {@code n}
 * payload bytes. A client sends {@link #REQUEST} frames; the daemon answers each with exactly one of
 * the other kinds, in order. After {@link #REFUSED}, {@link #TOO_LARGE} and {@link #MALFORMED} the
 * daemon closes the connection ({@link #closesConnection}); after the others the connection stays
 * usable. The text of error frames is UTF-8.
 */
public final class LoopFrames {
  private LoopFrames() {}

  /** The protocol version these kinds make up; a daemon answers a kind it does not know with {@link #MALFORMED}. */
  public static final int VERSION = 1;
  /** Length (4) and kind (1). */
  public static final int HEADER_BYTES = 5;
  /** The daemon's default largest request payload: 16 MiB. */
  public static final int DEFAULT_MAX_PAYLOAD_BYTES = 16 << 20;

  /** Client to daemon: a request; the payload is the handler's input. */
  public static final byte REQUEST = 0x01;
  /** Daemon to client: the handler's answer. */
  public static final byte RESPONSE = 0x02;
  /** Daemon to client: the handler failed (payload: what it threw); the request did run. */
  public static final byte ERROR = 0x03;
  /** Daemon to client: not ready yet (payload: progress 0..100, then the phase); the request did not run. */
  public static final byte WARMING = 0x04;
  /** Daemon to client: shutting down (payload: why); the request did not run; the connection closes. */
  public static final byte REFUSED = 0x05;
  /** Daemon to client: the frame was too large (payload: the 4-byte limit, then text); it did not run; closes. */
  public static final byte TOO_LARGE = 0x06;
  /** Daemon to client: not a frame of this protocol (payload: text); nothing ran; the connection closes. */
  public static final byte MALFORMED = 0x07;

  /** Whether the daemon closes the connection after a reply of {@code kind}. */
  public static boolean closesConnection(byte kind) {
    return kind == REFUSED || kind == TOO_LARGE || kind == MALFORMED;
  }

  /** A short name for {@code kind}, for messages: {@code RESPONSE}, or {@code 0x2a} for an unknown one. */
  public static String kindName(byte kind) {
    switch (kind) {
      case REQUEST: return "REQUEST";
      case RESPONSE: return "RESPONSE";
      case ERROR: return "ERROR";
      case WARMING: return "WARMING";
      case REFUSED: return "REFUSED";
      case TOO_LARGE: return "TOO_LARGE";
      case MALFORMED: return "MALFORMED";
      default: return String.format("0x%02x", kind & 0xff);
    }
  }

  /** A whole frame, header and payload, ready to write (position 0). */
  public static ByteBuffer frame(byte kind, byte[] payload) {
    ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES + payload.length);
    b.putInt(payload.length).put(kind).put(payload);
    return b.flip();
  }

  /** A frame whose payload is {@code text} in UTF-8. */
  public static ByteBuffer text(byte kind, String text) {
    return frame(kind, text.getBytes(StandardCharsets.UTF_8));
  }

  /** A {@link #WARMING} frame: one byte of progress (0..100), then the phase in UTF-8 (may be empty). */
  public static ByteBuffer warming(int percent, String phase) {
    byte[] p = phase.getBytes(StandardCharsets.UTF_8);
    byte[] payload = new byte[1 + p.length];
    payload[0] = (byte) Math.max(0, Math.min(100, percent));
    System.arraycopy(p, 0, payload, 1, p.length);
    return frame(WARMING, payload);
  }

  /** A {@link #TOO_LARGE} frame: the limit as a 4-byte big-endian number, then {@code text} in UTF-8. */
  public static ByteBuffer tooLarge(int maxPayloadBytes, String text) {
    byte[] t = text.getBytes(StandardCharsets.UTF_8);
    ByteBuffer payload = ByteBuffer.allocate(4 + t.length).putInt(maxPayloadBytes).put(t);
    return frame(TOO_LARGE, payload.array());
  }

  /** The payload length in a header, as an unsigned number (a peer may announce up to 4 GiB - 1). */
  public static long payloadLength(ByteBuffer header) {
    return header.getInt(0) & 0xFFFF_FFFFL;
  }

  /** The kind byte of a header. */
  public static byte kind(ByteBuffer header) {
    return header.get(4);
  }

  /** The text of an error frame's payload ({@link #ERROR}, {@link #REFUSED}, {@link #MALFORMED}). */
  public static String text(byte[] payload) {
    return new String(payload, StandardCharsets.UTF_8);
  }

  /** The progress of a {@link #WARMING} payload, 0 when it is empty. */
  public static int warmingPercent(byte[] payload) {
    return payload.length == 0 ? 0 : Math.max(0, Math.min(100, payload[0]));
  }

  /** The phase of a {@link #WARMING} payload, empty when none was reported. */
  public static String warmingPhase(byte[] payload) {
    return payload.length <= 1 ? "" : new String(payload, 1, payload.length - 1, StandardCharsets.UTF_8);
  }

  /** The limit in a {@link #TOO_LARGE} payload, -1 when the payload is too short to hold one. */
  public static int tooLargeLimit(byte[] payload) {
    return payload.length < 4 ? -1 : ByteBuffer.wrap(payload).getInt();
  }

  /** The text of a {@link #TOO_LARGE} payload. */
  public static String tooLargeText(byte[] payload) {
    return payload.length <= 4 ? "" : new String(payload, 4, payload.length - 4, StandardCharsets.UTF_8);
  }
}
