package dev.fastbind.backend.internal.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The control protocol's wire format: length-prefixed UTF-8 frames, commands and replies.
 *
 * <p><b>Frames.</b> A frame is a 4-byte big-endian length {@code n} followed by {@code n} bytes of
 * UTF-8 text, with {@code 1 <= n <=} {@value #MAX_FRAME_BYTES}. A length prefix outside that range
 * or payload bytes that are not valid UTF-8 make the stream unusable: the reader throws
 * {@link ControlProtocolException} and the connection is closed, since the frame boundary is lost.
 * A length prefix is checked as soon as its four bytes arrive, so an oversized frame is refused
 * before any of its payload is buffered.
 *
 * <p><b>Requests</b> are one frame holding exactly a {@link Command} word ({@code HELLO},
 * {@code STATUS}, {@code SHUTDOWN}); no arguments, no trailing newline. {@code HANDOVER} alone takes
 * one: the word, one space, and an escaped path.
 *
 * <p><b>Replies</b> are one frame of {@code \n}-terminated lines: first {@code OK} or
 * {@code ERR <reason>}, then zero or more {@code key=value} lines. Keys are
 * {@code [a-z0-9._-]+}; values (and the error reason) are escaped with {@link Escaping}, {@code =}
 * reserved: {@code %}, {@code =}, control characters (which include {@code \n} and {@code \r}) and
 * invisible characters become {@code %XX} or {@code %uXXXX}, so any string round-trips. Earlier
 * versions wrote {@code %XX} only, which this reader still reads.
 * Example: {@code "OK\nservice=cache\nphase=50%25 done\n"}.
 *
 * <p>Buffers are netty-buffer {@link Unpooled} heap buffers; the {@link Decoder} owns its buffer
 * and releases it on {@link Decoder#close()}. This class is stateless and thread-safe; a
 * {@code Decoder} belongs to one connection and one thread.
 */
public final class ControlFrames {

  /** The largest payload a frame may carry, in bytes (64 KiB). */
  public static final int MAX_FRAME_BYTES = 64 * 1024;

  /** The length prefix's size in bytes. */
  public static final int LENGTH_BYTES = 4;

  private ControlFrames() {}

  /** The commands a control endpoint understands; the wire form is the constant's name. */
  public enum Command {
    /** Identity, version and warm-up state. */
    HELLO,
    /** Everything {@code HELLO} has, plus counters and the backend's own fields. */
    STATUS,
    /** Ask the daemon to stop gracefully; answered {@code OK} before the stop begins. */
    SHUTDOWN,
    /**
     * {@code HANDOVER <rendezvous>}: offer the main listener at the rendezvous path (escaped) to the
     * broker, then stop accepting and exit after draining; answered {@code OK} when the hand-over
     * began, {@code ERR} when this daemon cannot hand over. The one command with an argument.
     */
    HANDOVER;

    /** The command named by {@code word} exactly (case-sensitive), if any. */
    public static Optional<Command> of(String word) {
      for (Command c : values()) {
        if (c.name().equals(word)) {
          return Optional.of(c);
        }
      }
      return Optional.empty();
    }
  }

  /**
   * A decoded reply: {@code OK} with fields in wire order, or {@code ERR} with a reason and no fields.
   *
   * @param ok whether the first line was {@code OK}
   * @param error the reason of an {@code ERR} reply; empty for {@code OK}
   * @param fields the {@code key=value} lines in order, unescaped; unmodifiable
   */
  public record Reply(boolean ok, String error, Map<String, String> fields) {

    /** Validates and copies; an error reply has no fields, an OK reply no reason. */
    public Reply {
      Objects.requireNonNull(error, "error");
      Objects.requireNonNull(fields, "fields");
      if (ok && !error.isEmpty()) {
        throw new IllegalArgumentException("an OK reply has no error reason");
      }
      if (!ok && !fields.isEmpty()) {
        throw new IllegalArgumentException("an ERR reply has no fields");
      }
      LinkedHashMap<String, String> copy = new LinkedHashMap<>();
      fields.forEach((k, v) -> {
        checkKey(k);
        copy.put(k, Objects.requireNonNull(v, () -> "value of " + k));
      });
      fields = Collections.unmodifiableMap(copy);
    }

    /** An {@code OK} reply with {@code fields} in their iteration order. */
    public static Reply ok(Map<String, String> fields) {
      return new Reply(true, "", fields);
    }

    /** An {@code ERR} reply with a one-line human-readable reason (escaped on the wire). */
    public static Reply error(String reason) {
      return new Reply(false, reason, Map.of());
    }

    /** The reply's payload text, ready for {@link #encodeFrame(String)}. */
    public String toPayload() {
      StringBuilder b = new StringBuilder(64 + fields.size() * 24);
      if (ok) {
        b.append("OK\n");
      } else {
        b.append("ERR ").append(escape(error)).append('\n');
      }
      fields.forEach((k, v) -> b.append(k).append('=').append(escape(v)).append('\n'));
      return b.toString();
    }

    /**
     * Parses a reply payload.
     *
     * @throws ControlProtocolException if the status line, a field line, a key or an escape is
     *     malformed, or a key repeats
     */
    public static Reply parse(String payload) throws ControlProtocolException {
      Objects.requireNonNull(payload, "payload");
      if (!payload.endsWith("\n")) {
        throw new ControlProtocolException("reply does not end with a newline: '" + Escaping.printable(payload) + "'");
      }
      String[] lines = payload.substring(0, payload.length() - 1).split("\n", -1);
      String status = lines[0];
      boolean ok;
      String error;
      if (status.equals("OK")) {
        ok = true;
        error = "";
      } else if (status.startsWith("ERR ")) {
        ok = false;
        error = unescape(status.substring(4));
      } else {
        throw new ControlProtocolException("reply status line is neither 'OK' nor 'ERR <reason>': '"
            + Escaping.printable(status) + "'");
      }
      LinkedHashMap<String, String> fields = new LinkedHashMap<>();
      for (int i = 1; i < lines.length; i++) {
        String line = lines[i];
        int eq = line.indexOf('=');
        if (eq <= 0) {
          throw new ControlProtocolException("reply line " + (i + 1) + " is not key=value: '" + Escaping.printable(line) + "'");
        }
        String key = line.substring(0, eq);
        if (!isValidKey(key)) {
          throw new ControlProtocolException("reply line " + (i + 1) + " has an invalid key: '" + Escaping.printable(key) + "'");
        }
        if (fields.put(key, unescape(line.substring(eq + 1))) != null) {
          throw new ControlProtocolException("reply repeats key '" + key + "'");
        }
      }
      if (!ok && !fields.isEmpty()) {
        throw new ControlProtocolException("an ERR reply must not carry fields, got " + fields.keySet());
      }
      return new Reply(ok, error, fields);
    }
  }

  /** Whether {@code key} is a valid field key: non-empty, {@code [a-z0-9._-]} only. */
  public static boolean isValidKey(String key) {
    if (key.isEmpty()) {
      return false;
    }
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private static void checkKey(String key) {
    Objects.requireNonNull(key, "key");
    if (!isValidKey(key)) {
      throw new IllegalArgumentException("invalid control field key '" + Escaping.printable(key) + "': use [a-z0-9._-]+");
    }
  }

  /** A value as it goes on the wire: {@link Escaping} with {@code =} reserved. */
  public static String escape(String value) {
    return Escaping.escape(value, "=");
  }

  /**
   * Reverses {@link #escape}; also reads the {@code %XX}-only values of earlier versions.
   *
   * @throws ControlProtocolException if a {@code %} is not followed by two hex digits (or {@code u} and
   *     four), or a raw control character appears
   */
  public static String unescape(String text) throws ControlProtocolException {
    String v = Escaping.unescapeOrNull(text, 0, text.length());
    if (v == null) {
      throw new ControlProtocolException("bad percent escape in '" + Escaping.printable(text) + "'");
    }
    return v;
  }

  /**
   * Encodes {@code payload} as one frame (length prefix and UTF-8 bytes) in a new buffer the caller
   * releases. Unpaired surrogates become {@code '?'}, as with {@link String#getBytes}.
   *
   * @throws IllegalArgumentException if the payload is empty or encodes to more than
   *     {@value #MAX_FRAME_BYTES} bytes
   */
  public static ByteBuf encodeFrame(String payload) {
    byte[] bytes = payload.getBytes(StandardCharsets.UTF_8);
    if (bytes.length == 0 || bytes.length > MAX_FRAME_BYTES) {
      throw new IllegalArgumentException("a control frame carries 1.." + MAX_FRAME_BYTES
          + " bytes, this payload has " + bytes.length);
    }
    ByteBuf frame = Unpooled.buffer(LENGTH_BYTES + bytes.length);
    frame.writeInt(bytes.length);
    frame.writeBytes(bytes);
    return frame;
  }

  /**
   * Writes all readable bytes of {@code frame} to a <em>blocking</em> channel and releases it.
   * Blocks until done; another thread closing the channel ends the wait with an exception.
   */
  public static void writeFrame(WritableByteChannel channel, ByteBuf frame) throws IOException {
    try {
      ByteBuffer nio = frame.nioBuffer();
      while (nio.hasRemaining()) {
        channel.write(nio);
      }
    } finally {
      frame.release();
    }
  }

  /**
   * Reassembles frames from bytes that arrive in arbitrary pieces (one byte at a time included).
   *
   * <p>Feed bytes with {@link #feed}, then call {@link #poll()} until it returns empty. Not
   * thread-safe: one decoder per connection, used by one thread at a time. After
   * {@code poll} has thrown, the decoder stays failed. Close it to release its buffer.
   */
  public static final class Decoder implements AutoCloseable {
    private final ByteBuf cumulation = Unpooled.buffer(256);
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    private ControlProtocolException failure;
    private boolean closed;

    /** Appends the remaining bytes of {@code bytes} (its position moves to its limit). */
    public void feed(ByteBuffer bytes) {
      checkOpen();
      cumulation.writeBytes(bytes);
    }

    /** Appends the readable bytes of {@code bytes} (its reader index moves to its writer index). */
    public void feed(ByteBuf bytes) {
      checkOpen();
      cumulation.writeBytes(bytes);
    }

    /**
     * The next complete frame's payload, or empty if more bytes are needed.
     *
     * @throws ControlProtocolException if the length prefix is out of range or the payload is not
     *     valid UTF-8; the stream cannot be resynchronised after that
     */
    public Optional<String> poll() throws ControlProtocolException {
      checkOpen();
      if (failure != null) {
        throw failure;
      }
      if (cumulation.readableBytes() < LENGTH_BYTES) {
        return Optional.empty();
      }
      int length = cumulation.getInt(cumulation.readerIndex());
      if (length <= 0 || length > MAX_FRAME_BYTES) {
        throw fail(new ControlProtocolException("bad frame length prefix " + length + " (0x"
            + Integer.toHexString(length) + "); a frame carries 1.." + MAX_FRAME_BYTES + " bytes"));
      }
      if (cumulation.readableBytes() < LENGTH_BYTES + length) {
        return Optional.empty();
      }
      ByteBuffer payload = cumulation.nioBuffer(cumulation.readerIndex() + LENGTH_BYTES, length);
      CharBuffer text;
      try {
        text = utf8.reset().decode(payload);
      } catch (CharacterCodingException e) {
        throw fail(new ControlProtocolException("frame payload of " + length + " bytes is not valid UTF-8", e));
      }
      cumulation.skipBytes(LENGTH_BYTES + length);
      cumulation.discardSomeReadBytes();
      return Optional.of(text.toString());
    }

    /** How many bytes are buffered but not yet returned as a frame. */
    public int bufferedBytes() {
      return closed ? 0 : cumulation.readableBytes();
    }

    /** Releases the buffer. Idempotent. */
    @Override
    public void close() {
      if (!closed) {
        closed = true;
        cumulation.release();
      }
    }

    private ControlProtocolException fail(ControlProtocolException e) {
      failure = e;
      return e;
    }

    private void checkOpen() {
      if (closed) {
        throw new IllegalStateException("decoder is closed");
      }
    }
  }
}
