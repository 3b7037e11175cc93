package dev.fastbind.broker;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * The broker found runtime state it cannot prove harmless to act on, so it acted on nothing: no
 * process was signalled, no file was deleted and nothing was spawned.
 *
 * <p>A lockfile is a claim; the broker acts only on what the kernel confirms (see {@link Broker}).
 * This exception is what {@link Broker#ensureRunning} and {@link Broker#stop} throw when the claim and
 * the facts disagree in a way that guessing could make worse: a lockfile it cannot read (or of a newer
 * format) next to an endpoint that still accepts, a record that names a process which is not this
 * service's daemon, a socket that answers for another process, an endpoint held by a process without
 * a record, or something other than a socket or file standing at one of the service's paths.
 * {@link Broker#status} reports the same findings as {@link ServiceStatus.Untrusted}.
 *
 * <p>The message names the file or endpoint, what was found and what to do.
 */
public final class UntrustedStateException extends BrokerException {
  private static final long serialVersionUID = 1L;

  /** What the broker found. */
  public enum Kind {
    /**
     * The lockfile cannot be read as a record (corrupt, truncated, foreign, or of a newer format
     * version) while the service's endpoint still accepts connections: deleting it would orphan the
     * daemon that answers.
     */
    UNREADABLE_LOCKFILE,
    /**
     * The lockfile is readable but is not this definition's: another service's, or naming endpoints
     * that are not the service's own, while the service's endpoint still accepts connections.
     */
    FOREIGN_RECORD,
    /**
     * The record names a live process that the kernel does not confirm as this service's daemon (another
     * user's, pid 1, this launcher itself, or a process that does not hold the service's endpoints).
     */
    UNVERIFIED_PROCESS,
    /**
     * The service's control endpoint is answered by another process than the record names, or its
     * {@code HELLO} names another service, pid or instance than the record.
     */
    IMPOSTOR,
    /**
     * The recorded daemon is gone (or there is no record) but the service's endpoint still accepts
     * connections: another process holds the listener, often a child that inherited it from a daemon
     * killed with {@code SIGKILL}.
     */
    ENDPOINT_HELD,
    /**
     * A symbolic link, directory, FIFO or regular file stands where the service's socket or lockfile
     * belongs; the broker never removes such things.
     */
    NOT_A_RUNTIME_FILE
  }

  /** See {@link #service()}. */
  private final String service;
  /** See {@link #kind()}. */
  private final Kind kind;
  private final transient Path path;
  /** The process concerned, or -1; see {@link #pid()}. */
  private final long pid;

  /**
   * Creates the error.
   *
   * @param service the service
   * @param kind what was found
   * @param path the file or socket path concerned
   * @param pid the process concerned (the recorded pid, the impostor or the holder), or -1
   * @param message the whole message: what was found and what to do
   */
  public UntrustedStateException(String service, Kind kind, Path path, long pid, String message) {
    super(message);
    this.service = Objects.requireNonNull(service, "service");
    this.kind = Objects.requireNonNull(kind, "kind");
    this.path = Objects.requireNonNull(path, "path");
    this.pid = pid;
  }

  /**
   * The service.
   *
   * @return the name of the service whose runtime state was refused
   */
  public String service() {
    return service;
  }

  /**
   * What was found.
   *
   * @return the kind of disagreement; {@link ServiceStatus.Untrusted#kind()} reports the same
   */
  public Kind kind() {
    return kind;
  }

  /**
   * The file or socket path concerned.
   *
   * @return the lockfile, endpoint or other runtime path the finding is about; null after
   *     deserialization, as {@code Path} is not serializable
   */
  public Path path() {
    return path;
  }

  /**
   * The process concerned (recorded pid, impostor or holder), when one is known.
   *
   * @return the process id, positive; empty when no process is concerned (such as
   *     {@link Kind#NOT_A_RUNTIME_FILE}) or it could not be learned
   */
  public OptionalLong pid() {
    return pid > 0 ? OptionalLong.of(pid) : OptionalLong.empty();
  }
}
