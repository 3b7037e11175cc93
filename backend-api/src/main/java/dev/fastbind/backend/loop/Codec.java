package dev.fastbind.backend.loop;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * Turns values of one type into a frame's payload and back, so that a {@link Handler} and the
 * broker's {@code DaemonClient} can speak in types instead of bytes. The same codec object serves
 * both sides: the daemon decodes what the client encoded.
 *
 * <p>Implementations must be thread-safe (the loop calls them from several handler threads at once)
 * and should reject bytes they cannot decode with an {@link IOException} that says what was wrong:
 * the loop answers such a request with an error naming it, and the client reports it.
 *
 * @param <T> the type of the values
 */
public interface Codec<T> {

  /**
   * Encodes {@code value}.
   *
   * @param value the value to send; what a codec does with null is its own choice
   * @return the payload bytes; the caller does not modify them
   * @throws IOException if the value cannot be encoded
   */
  byte[] encode(T value) throws IOException;

  /**
   * Decodes {@code bytes}.
   *
   * @param bytes a whole payload, not modified by the codec
   * @return the value
   * @throws IOException if the bytes are not a value of this codec
   */
  T decode(byte[] bytes) throws IOException;

  /**
   * The identity codec: payloads as they are.
   *
   * @return a codec that returns its argument both ways; null encodes as an empty payload
   */
  static Codec<byte[]> bytes() {
    return Codecs.BYTES;
  }

  /**
   * Text as UTF-8. Decoding is strict: malformed UTF-8 is an error, never replaced.
   *
   * @return a thread-safe UTF-8 codec; null encodes as the empty string
   */
  static Codec<String> utf8() {
    return Codecs.UTF8;
  }

  /** The shared instances. */
  final class Codecs {
    private Codecs() {}

    static final Codec<byte[]> BYTES = new Codec<byte[]>() {
      @Override
      public byte[] encode(byte[] value) {
        return value == null ? new byte[0] : value;
      }

      @Override
      public byte[] decode(byte[] bytes) {
        return Objects.requireNonNull(bytes, "bytes");
      }

      @Override
      public String toString() {
        return "Codec.bytes()";
      }
    };

    static final Codec<String> UTF8 = new Codec<String>() {
      @Override
      public byte[] encode(String value) {
        return value == null ? new byte[0] : value.getBytes(StandardCharsets.UTF_8);
      }

      @Override
      public String decode(byte[] bytes) throws IOException {
        try {
          return StandardCharsets.UTF_8.newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
          throw new IOException("the payload is not valid UTF-8 (" + e + ")", e);
        }
      }

      @Override
      public String toString() {
        return "Codec.utf8()";
      }
    };
  }
}
