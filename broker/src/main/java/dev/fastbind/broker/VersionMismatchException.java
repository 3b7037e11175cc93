package dev.fastbind.broker;

import java.io.IOException;
import java.util.Objects;

/**
 * The running daemon's version differs from the definition's, and the definition's
 * {@link VersionPolicy#FAIL} asks to report it instead of restarting. The daemon was left running.
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
    super("daemon '" + service + "' (pid " + pid + ") runs version " + running + " but version "
        + expected + " is expected; stop it or define the service with VersionPolicy.RESTART");
    this.service = Objects.requireNonNull(service, "service");
    this.expected = Objects.requireNonNull(expected, "expected");
    this.running = Objects.requireNonNull(running, "running");
    this.pid = pid;
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
