package dev.fastbind.broker.internal;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * The connect probe: does a listener accept connections at a socket path? Uses a JDK channel in
 * non-blocking mode, so a listener whose accept backlog is full (a stopped daemon) cannot make the
 * probe hang; such a listener counts as present.
 */
public final class Probe {
  private Probe() {}

  /** Whether something listens at {@code socket}; never blocks. */
  public static boolean connects(Path socket) {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.configureBlocking(false);
      ch.connect(UnixDomainSocketAddress.of(socket));
      return true;
    } catch (ConnectException refused) {
      return false; // a socket file nobody listens on
    } catch (IOException | RuntimeException e) {
      // Told apart by type and by the file, never by the message, which the C library translates:
      // EAGAIN (a full backlog: a stopped or swamped daemon is present) keeps its file, ENOENT has none.
      return Files.exists(socket, LinkOption.NOFOLLOW_LINKS);
    }
  }
}
