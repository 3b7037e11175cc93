package dev.fastbind.broker;

import dev.fastbind.broker.internal.VersionOrder;
import java.io.IOException;
import java.util.Objects;

/**
 * The running daemon's version differs from the definition's, and the definition's
 * {@link VersionPolicy#FAIL} asks to report it instead of restarting. The daemon was left running.
 * The message says whether the running version is newer (by the order {@link VersionPolicy}
 * documents) and what to do in either case.
 */
public final class VersionMismatchException extends BrokerException {
  private static final long serialVersionUID = 1L;

  /** See {@link #service()}. */
  private final String service;
  /** See {@link #expected()}. */
  private final String expected;
  /** See {@link #running()}. */
  private final String running;
  /** See {@link #pid()}. */
  private final long pid;

  /**
   * Creates the error.
   *
   * @param service the service whose daemon runs another version
   * @param expected the version the definition expects
   * @param running the version the running daemon recorded in its lockfile
   * @param pid the running daemon's process id
   */
  public VersionMismatchException(String service, String expected, String running, long pid) {
    super(message(service, expected, running, pid));
    this.service = Objects.requireNonNull(service, "service");
    this.expected = Objects.requireNonNull(expected, "expected");
    this.running = Objects.requireNonNull(running, "running");
    this.pid = pid;
  }

  private static String message(String service, String expected, String running, long pid) {
    String head = "daemon '" + service + "' (pid " + pid + ") runs version " + (running.isEmpty() ? "(none)" : running);
    if (VersionOrder.compare(running, expected) == VersionOrder.Order.NEWER) {
      return head + ", newer than the expected " + expected + "; upgrade this launcher to " + running
          + " or later, or define the service with VersionPolicy.RESTART or ACCEPT to use the newer daemon;"
          + " to go back to " + expected + ", stop the daemon (Broker.stop) or define the service with"
          + " VersionPolicy.RESTART_EVEN_IF_NEWER";
    }
    return head + " but version " + expected + " is expected; stop it (Broker.stop) or define the service"
        + " with VersionPolicy.RESTART to replace it";
  }

  /**
   * The service.
   *
   * @return the name of the service whose daemon runs another version
   */
  public String service() {
    return service;
  }

  /**
   * The version the definition expects.
   *
   * @return {@link ServiceDefinition#version()}'s value
   */
  public String expected() {
    return expected;
  }

  /**
   * The version the running daemon reports.
   *
   * @return the version in the running daemon's lockfile, as its
   *     {@link dev.fastbind.backend.Daemon.Builder#version Daemon.Builder.version} set it;
   *     empty when it recorded none
   */
  public String running() {
    return running;
  }

  /**
   * The running daemon's pid.
   *
   * @return the process id of the daemon that was left running, positive
   */
  public long pid() {
    return pid;
  }
}
