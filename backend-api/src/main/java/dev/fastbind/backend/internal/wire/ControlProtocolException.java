package dev.fastbind.backend.internal.wire;

import java.net.ProtocolException;

/**
 * The control protocol was broken or a request was refused: a malformed frame (bad length prefix,
 * invalid UTF-8), a reply that does not parse, a missing or invalid {@code HELLO} field, an unknown
 * protocol version, or an {@code ERR} reply.
 *
 * <p>It extends the JDK's {@link ProtocolException}, so {@code catch (IOException e)} blocks keep
 * working. The message names what was wrong and, on the client side, the endpoint.
 */
public final class ControlProtocolException extends ProtocolException {
  private static final long serialVersionUID = 1L;

  /** Creates the exception with a message a person can act on. */
  public ControlProtocolException(String message) {
    super(message);
  }

  /** Creates the exception with a message and the underlying cause. */
  public ControlProtocolException(String message, Throwable cause) {
    super(message);
    initCause(cause);
  }
}
