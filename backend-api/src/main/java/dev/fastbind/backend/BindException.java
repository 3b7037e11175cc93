package dev.fastbind.backend;

import dev.fastbind.backend.internal.wire.Escaping;
import java.io.IOException;
import java.util.Objects;

/**
 * Why an endpoint could not be bound: a small, closed taxonomy.
 *
 * <p>Every failure of {@link BrokeredBackend#bind(Endpoint)} and of {@link IpcListener#bind(Endpoint)}
 * is one of four final subclasses, so a caller can switch on the kind without parsing messages:
 *
 * <ul>
 *   <li>{@link InvalidEndpoint}: the endpoint can never be bound as written (relative path, too long,
 *       NUL byte, abstract name on a platform without abstract names, a regular file at the path).
 *       Fix the configuration; retrying will not help.
 *   <li>{@link AlreadyBound}: a live listener answers at the endpoint. Another instance is running;
 *       talk to it instead of starting a second one.
 *   <li>{@link Io}: the operating system refused (permissions, missing directory, out of descriptors).
 *       The message carries the system's reason.
 *   <li>{@link Other}: anything else, with the cause attached.
 * </ul>
 *
 * <p>It extends {@link IOException} so that existing {@code catch (IOException e)} blocks keep working.
 * Messages always name the endpoint and say what a person can do about it.
 */
public abstract sealed class BindException extends IOException
    permits BindException.InvalidEndpoint, BindException.AlreadyBound, BindException.Io, BindException.Other {

  private static final long serialVersionUID = 1L;

  /** The endpoint as the caller wrote it; see {@link #endpoint()}. Part of the serialized form. */
  private final String endpoint;

  private BindException(String endpoint, String message, Throwable cause) {
    super(message, cause);
    this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
  }

  /**
   * The endpoint as the caller wrote it (its text form when it was valid, the raw input otherwise).
   *
   * @return the endpoint's text form, such as {@code unix:/run/user/1000/fastbind/cache.sock}, or for
   *     an {@link InvalidEndpoint} the input exactly as given (it may hold control characters, which
   *     the message escapes); never null
   */
  public String endpoint() {
    return endpoint;
  }

  /** The endpoint cannot be bound as written; the message names the input, the rule and the limit. */
  public static final class InvalidEndpoint extends BindException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the error for {@code input}, which broke the rule described by {@code reason}.
     *
     * @param input the endpoint text as given, not null; control characters are escaped in the message
     * @param reason the rule that was broken and its limit, read after {@code "invalid endpoint 'X': "},
     *     such as {@code "a socket path must be absolute"}
     */
    public InvalidEndpoint(String input, String reason) {
      super(input, "invalid endpoint '" + Escaping.printable(input) + "': " + reason, null);
    }
  }

  /** A live listener already answers at the endpoint; the first listener is left untouched. */
  public static final class AlreadyBound extends BindException {
    private static final long serialVersionUID = 1L;
    /** The holder's pid, or -1; see {@link #holderPid()}. Part of the serialized form. */
    private final long holderPid;

    /**
     * Creates the error; {@code holderPid} is the pid of the process holding the endpoint, or -1 when
     * it could not be learned.
     *
     * @param endpoint the endpoint's text form, not null
     * @param holderPid the pid of the listening process, named in the message when positive; -1 (or any
     *     value not above 0) when unknown
     */
    public AlreadyBound(String endpoint, long holderPid) {
      super(endpoint, "endpoint " + endpoint + " is already bound by a live listener"
          + (holderPid > 0 ? " (pid " + holderPid + ")" : "")
          + "; another instance is running there: connect to it, stop it, or choose another endpoint",
          null);
      this.holderPid = holderPid;
    }

    /**
     * The pid of the process that holds the endpoint, or -1 when unknown.
     *
     * @return the holder's process id as the kernel's peer credentials reported it, positive; or -1 when
     *     it could not be learned (the holder did not start listening within a second, or its peer
     *     credentials could not be read)
     */
    public long holderPid() {
      return holderPid;
    }
  }

  /** The operating system refused the bind; the cause carries the system's own error. */
  public static final class Io extends BindException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the error for {@code endpoint}; {@code what} says which step failed.
     *
     * @param endpoint the endpoint's text form, not null
     * @param what the step that failed, read after {@code "cannot bind ENDPOINT: "}, such as
     *     {@code "cannot make the socket file owner-only"}
     * @param cause the operating system's error, whose message ends this one; null gives
     *     {@code "unknown cause"}
     */
    public Io(String endpoint, String what, IOException cause) {
      super(endpoint, "cannot bind " + endpoint + ": " + what + ": "
          + (cause == null ? "unknown cause" : cause.getMessage()), cause);
    }
  }

  /** Any other failure, with its cause. */
  public static final class Other extends BindException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the error for {@code endpoint} with a description and the cause.
     *
     * @param endpoint the endpoint's text form, not null
     * @param what what went wrong, read after {@code "cannot bind ENDPOINT: "}, such as
     *     {@code "junixsocket is not usable on this platform"}
     * @param cause the underlying failure, appended to the message and kept as the cause; may be null
     */
    public Other(String endpoint, String what, Throwable cause) {
      super(endpoint, "cannot bind " + endpoint + ": " + what
          + (cause == null ? "" : ": " + cause), cause);
    }
  }

}
