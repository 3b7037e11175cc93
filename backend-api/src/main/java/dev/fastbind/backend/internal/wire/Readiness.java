package dev.fastbind.backend.internal.wire;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The readiness notification a daemon sends its broker (the sd_notify idea over a stream socket).
 *
 * <p>Before spawning, the broker binds a Unix-domain stream socket and passes its path in
 * {@value Env#NOTIFY_SOCKET}. Right after the lockfile is written, the daemon connects, writes one
 * line and closes:
 *
 * <pre>
 * READY v=2 pid=4242 instance=5f0c…\n
 * FAILED v=2 pid=4242 reason=cannot%20bind%20…\n
 * </pre>
 *
 * <p>The broker therefore wakes the moment the endpoint exists instead of polling for it. A stream
 * socket keeps the daemon's side on JDK channels (a datagram would need junixsocket and its native
 * library before the daemon could say it is up).
 *
 * <p>Format version 2 (the {@code v=2} field) escapes values with {@link Escaping}, space reserved.
 * A line without {@code v} is version 1, written by earlier daemons, whose values are URL-encoded in
 * UTF-8; both are read. Unknown fields are ignored, so the line can grow without a new version. A
 * line is at most {@value #MAX_LINE_BYTES} bytes: a longer failure reason is cut (at a character
 * boundary, marked with {@code …}) until the encoded line fits.
 */
public final class Readiness {


  /** The format version this code writes; it reads this one and version 1. */
  public static final int FORMAT_VERSION = 2;

  /** The longest line either side accepts, in bytes. */
  public static final int MAX_LINE_BYTES = 4096;

  private Readiness() {}

  /** What a daemon announces. */
  public enum Kind {
    /** The endpoint is bound and the lockfile written. */
    READY,
    /** The daemon failed before it became reachable; {@code reason} says why. */
    FAILED
  }

  /**
   * One notification.
   *
   * @param kind READY or FAILED
   * @param pid the daemon's pid
   * @param instanceId the instance id written to the lockfile (empty for FAILED before one existed)
   * @param reason why the daemon failed (empty for READY)
   */
  public record Message(Kind kind, long pid, String instanceId, String reason) {
    /** Validates the fields. */
    public Message {
      Objects.requireNonNull(kind, "kind");
      Objects.requireNonNull(instanceId, "instanceId");
      Objects.requireNonNull(reason, "reason");
      if (pid <= 0) {
        throw new IllegalArgumentException("pid must be positive: " + pid);
      }
    }

    /** A READY message. */
    public static Message ready(long pid, String instanceId) {
      return new Message(Kind.READY, pid, instanceId, "");
    }

    /** A FAILED message. */
    public static Message failed(long pid, String reason) {
      return new Message(Kind.FAILED, pid, "", reason);
    }

    /** The wire form, one line ending in {@code \n}. */
    public String encode() {
      StringBuilder b = new StringBuilder(kind.name()).append(" v=").append(FORMAT_VERSION).append(" pid=").append(pid);
      if (!instanceId.isEmpty()) {
        b.append(" instance=").append(Escaping.escape(instanceId, " +"));
      }
      if (!reason.isEmpty()) {
        b.append(" reason=").append(Escaping.escape(reason, " +"));
      }
      return b.append('\n').toString();
    }

    /**
     * Parses one line (with or without its trailing newline).
     *
     * @throws IOException if the line is not a notification this code understands
     */
    public static Message parse(String line) throws IOException {
      String text = line.endsWith("\n") ? line.substring(0, line.length() - 1) : line;
      String[] parts = text.split(" ");
      Kind kind;
      try {
        kind = Kind.valueOf(parts[0]);
      } catch (IllegalArgumentException e) {
        throw new IOException("malformed readiness notification (unknown kind): " + abbreviate(text));
      }
      long pid = -1;
      String instance = "";
      String reason = "";
      boolean legacy = true; // no v field: version 1, URL-encoded
      for (int i = 1; i < parts.length; i++) {
        if (parts[i].startsWith("v=")) {
          if (!parts[i].equals("v=" + FORMAT_VERSION)) {
            throw new IOException("readiness notification of format " + Escaping.printable(parts[i].substring(2))
                + "; this code reads formats 1 and " + FORMAT_VERSION + ": " + abbreviate(text));
          }
          legacy = false;
        }
      }
      for (int i = 1; i < parts.length; i++) {
        int eq = parts[i].indexOf('=');
        if (eq <= 0) {
          throw new IOException("malformed readiness notification (field without '='): " + abbreviate(text));
        }
        String key = parts[i].substring(0, eq);
        String value;
        try {
          value = legacy ? URLDecoder.decode(parts[i].substring(eq + 1), StandardCharsets.UTF_8)
              : Escaping.unescape(parts[i].substring(eq + 1));
        } catch (IllegalArgumentException e) {
          throw new IOException("malformed readiness notification (bad escape): " + abbreviate(text));
        }
        switch (key) {
          case "pid" -> {
            try {
              pid = Long.parseLong(value);
            } catch (NumberFormatException e) {
              throw new IOException("malformed readiness notification (bad pid): " + abbreviate(text));
            }
          }
          case "instance" -> instance = value;
          case "reason" -> reason = value;
          default -> { } // v, and unknown fields, which are ignored so the format can grow
        }
      }
      if (pid <= 0) {
        throw new IOException("malformed readiness notification (no pid): " + abbreviate(text));
      }
      if (kind == Kind.READY && instance.isEmpty()) {
        throw new IOException("malformed readiness notification (READY without instance): " + abbreviate(text));
      }
      return new Message(kind, pid, instance, reason);
    }
  }

  /** Sends {@code message} to the broker's notify socket at {@code socket}: connect, write, close. */
  public static void send(Path socket, Message message) throws IOException {
    byte[] bytes = message.encode().getBytes(StandardCharsets.UTF_8);
    String reason = message.reason();
    while (bytes.length > MAX_LINE_BYTES && !reason.isEmpty()) {
      // Cut by what the encoded line weighs, not by characters: escaped or non-ASCII text weighs more.
      int keep = Math.max(0, reason.length() - Math.max(1, (bytes.length - MAX_LINE_BYTES) / 6 + 1));
      if (keep > 0 && Character.isLowSurrogate(reason.charAt(keep))) {
        keep--;
      }
      reason = reason.substring(0, keep);
      bytes = new Message(message.kind(), message.pid(), message.instanceId(), reason.isEmpty() ? "…" : reason + "…")
          .encode().getBytes(StandardCharsets.UTF_8);
    }
    try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      channel.connect(UnixDomainSocketAddress.of(socket));
      ByteBuffer buffer = ByteBuffer.wrap(bytes);
      while (buffer.hasRemaining()) {
        channel.write(buffer);
      }
    }
  }

  private static String abbreviate(String text) {
    return text.length() <= 200 ? text : text.substring(0, 200) + "…";
  }
}
