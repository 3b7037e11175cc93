package dev.fastbind.broker.internal;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * One line a daemon writes to the broker's notify socket: {@code READY pid=<pid> instance=<id>} or
 * {@code FAILED pid=<pid> reason=<percent-encoded text>}.
 *
 * @param ready whether the daemon announced readiness (else it reported a failure)
 * @param pid the pid the daemon reported
 * @param instanceId the instance id, empty for {@code FAILED}
 * @param reason the decoded failure reason, empty for {@code READY}
 */
public record NotifyMessage(boolean ready, long pid, String instanceId, String reason) {

  /** Parses one line without its newline; empty if the line is not a well-formed message. */
  public static Optional<NotifyMessage> parse(String line) {
    String[] parts = line.split(" ", 3);
    if (parts.length != 3 || !parts[1].startsWith("pid=")) {
      return Optional.empty();
    }
    long pid;
    try {
      pid = Long.parseLong(parts[1].substring(4));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
    if (pid <= 0) {
      return Optional.empty();
    }
    if (parts[0].equals("READY") && parts[2].startsWith("instance=") && parts[2].length() > 9
        && parts[2].indexOf(' ') < 0) {
      return Optional.of(new NotifyMessage(true, pid, parts[2].substring(9), ""));
    }
    if (parts[0].equals("FAILED") && parts[2].startsWith("reason=")) {
      String reason;
      try {
        reason = URLDecoder.decode(parts[2].substring(7).replace("+", "%2B"), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        reason = parts[2].substring(7);
      }
      return Optional.of(new NotifyMessage(false, pid, "", reason));
    }
    return Optional.empty();
  }
}
