package dev.fastbind.backend.internal.wire;

import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import dev.fastbind.backend.Endpoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Objects;
import java.util.UUID;

/**
 * What a running daemon's lockfile says about it: the value {@link Lockfiles} writes and reads.
 *
 * <p>The broker trusts a lockfile only as far as it can check it: {@code pid} together with
 * {@code processStartTime} (a {@link ProcessIdentity#startTime(long)} token) and {@code bootId}
 * identify one process even after its pid is reused; {@code endpoint} is probed with a connect;
 * {@code instanceId} is random per daemon start, so a daemon shutting down deletes only its own
 * lockfile and never a successor's. {@code compatibility} is the daemon's compatibility key in
 * canonical form ({@link Compatibility}), empty when none was given. Every component is non-null; {@code service} and
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
    String instanceId,
    String compatibility) {

  /** A record without a compatibility key (a daemon whose broker gave none, or an older SDK's). */
  public LockfileRecord(String service, long pid, String processStartTime, String bootId, Endpoint endpoint,
      Endpoint controlEndpoint, String daemonVersion, String instanceId) {
    this(service, pid, processStartTime, bootId, endpoint, controlEndpoint, daemonVersion, instanceId, "");
  }

  /** Validates every component. */
  public LockfileRecord {
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(processStartTime, "processStartTime");
    Objects.requireNonNull(bootId, "bootId");
    Objects.requireNonNull(endpoint, "endpoint");
    Objects.requireNonNull(controlEndpoint, "controlEndpoint");
    Objects.requireNonNull(daemonVersion, "daemonVersion");
    Objects.requireNonNull(instanceId, "instanceId");
    Objects.requireNonNull(compatibility, "compatibility");
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

  /**
   * A fresh random instance id as 32 hex digits: 128 bits read from {@code /dev/urandom} where it
   * exists (the source the JDK's {@code NativePRNG} reads, without initialising the JDK's security
   * providers and a SHA-1 mixer on a daemon's way to readiness), else 122 random bits from
   * {@link UUID#randomUUID()}.
   */
  public static String newInstanceId() {
    byte[] bits = new byte[16];
    try (FileChannel urandom = FileChannel.open(URANDOM)) {
      ByteBuffer buf = ByteBuffer.wrap(bits);
      while (buf.hasRemaining()) {
        if (urandom.read(buf) < 0) {
          throw new IOException("end of " + URANDOM);
        }
      }
    } catch (IOException | RuntimeException e) {
      return UUID.randomUUID().toString().replace("-", "");
    }
    char[] hex = new char[32];
    for (int i = 0; i < 16; i++) {
      hex[2 * i] = HEX[(bits[i] >> 4) & 0xf];
      hex[2 * i + 1] = HEX[bits[i] & 0xf];
    }
    return new String(hex);
  }

  private static final Path URANDOM = Path.of("/dev/urandom");
  private static final char[] HEX = "0123456789abcdef".toCharArray();
}
