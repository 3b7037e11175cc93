package dev.fastbind.broker;

import java.io.IOException;
import java.util.Objects;

/**
 * The running daemon's version differs from the definition's, and the definition's
 * {@link VersionPolicy#FAIL} asks to report it instead of restarting. The daemon was left running.
 */
public final class VersionMismatchException extends BrokerException {
  private static final long serialVersionUID = 1L;

  private final String service;
  private final String expected;
  private final String running;
  private final long pid;

  /** Creates the error. */
  public VersionMismatchException(String service, String expected, String running, long pid) {
    super("daemon '" + service + "' (pid " + pid + ") runs version " + running + " but version "
        + expected + " is expected; stop it or define the service with VersionPolicy.RESTART");
    this.service = Objects.requireNonNull(service, "service");
    this.expected = Objects.requireNonNull(expected, "expected");
    this.running = Objects.requireNonNull(running, "running");
    this.pid = pid;
  }

  /** The service. */
  public String service() {
    return service;
  }

  /** The version the definition expects. */
  public String expected() {
    return expected;
  }

  /** The version the running daemon reports. */
  public String running() {
    return running;
  }

  /** The running daemon's pid. */
  public long pid() {
    return pid;
  }
}
