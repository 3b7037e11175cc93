package dev.fastbind.backend.internal;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The readiness notification a daemon sends its broker (the sd_notify idea over a stream socket).
 *
 * <p>Before spawning, the broker binds a Unix-domain stream socket and passes its path in
 * {@value #NOTIFY_SOCKET_ENV}. Right after the lockfile is written, the daemon connects, writes one
 * line and closes:
 *
 * <pre>
 * READY pid=4242 instance=5f0c…\n
 * FAILED pid=4242 reason=cannot%20bind%20…\n
 * </pre>
 *
 * <p>The broker therefore wakes the moment the endpoint exists instead of polling for it. A stream
 * socket keeps the daemon's side on JDK channels (a datagram would need junixsocket and its native
 * library before the daemon could say it is up). Values are URL-encoded in UTF-8.
 */
public final class Readiness {

  /** The environment variable that carries the notify socket's path. */
  public static final String NOTIFY_SOCKET_ENV = "FASTBIND_NOTIFY_SOCKET";

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
      StringBuilder b = new StringBuilder(kind.name()).append(" pid=").append(pid);
      if (!instanceId.isEmpty()) {
        b.append(" instance=").append(URLEncoder.encode(instanceId, StandardCharsets.UTF_8));
      }
      if (!reason.isEmpty()) {
        b.append(" reason=").append(URLEncoder.encode(reason, StandardCharsets.UTF_8));
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
      for (int i = 1; i < parts.length; i++) {
        int eq = parts[i].indexOf('=');
        if (eq <= 0) {
          throw new IOException("malformed readiness notification (field without '='): " + abbreviate(text));
        }
        String key = parts[i].substring(0, eq);
        String value;
        try {
          value = URLDecoder.decode(parts[i].substring(eq + 1), StandardCharsets.UTF_8);
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
          default -> { } // unknown fields are ignored so the format can grow
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
    if (bytes.length > MAX_LINE_BYTES) {
      String shortened = message.reason().substring(0, Math.min(message.reason().length(), 1024)) + "…";
      bytes = new Message(message.kind(), message.pid(), message.instanceId(), shortened)
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
