package dev.fastbind.backend.internal;

import dev.fastbind.backend.Endpoint;
import java.util.Objects;
import java.util.UUID;

/**
 * What a running daemon's lockfile says about it: the value {@link Lockfiles} writes and reads.
 *
 * <p>The broker trusts a lockfile only as far as it can check it: {@code pid} together with
 * {@code processStartTime} (a {@link ProcessIdentity#startTime(long)} token) and {@code bootId}
 * identify one process even after its pid is reused; {@code endpoint} is probed with a connect;
 * {@code instanceId} is random per daemon start, so a daemon shutting down deletes only its own
 * lockfile and never a successor's. Every component is non-null; {@code service} and
 * {@code instanceId} are non-empty and {@code pid} is positive. Strings may hold any characters: the
 * file format escapes them.
 */
public record LockfileRecord(
    String service,
    long pid,
    String processStartTime,
    String bootId,
    Endpoint endpoint,
    Endpoint controlEndpoint,
    String daemonVersion,
    String instanceId) {

  /** Validates every component. */
  public LockfileRecord {
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(processStartTime, "processStartTime");
    Objects.requireNonNull(bootId, "bootId");
    Objects.requireNonNull(endpoint, "endpoint");
    Objects.requireNonNull(controlEndpoint, "controlEndpoint");
    Objects.requireNonNull(daemonVersion, "daemonVersion");
    Objects.requireNonNull(instanceId, "instanceId");
    if (service.isEmpty()) {
      throw new IllegalArgumentException("service must not be empty");
    }
    if (instanceId.isEmpty()) {
      throw new IllegalArgumentException("instanceId must not be empty");
    }
    if (pid <= 0) {
      throw new IllegalArgumentException("pid must be positive, was " + pid);
    }
  }

  /** A fresh random instance id: 122 random bits from {@link UUID#randomUUID()}, as 32 hex digits. */
  public static String newInstanceId() {
    return UUID.randomUUID().toString().replace("-", "");
  }
}
