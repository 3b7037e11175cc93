package dev.fastbind.backend.internal;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.file.attribute.UserPrincipal;
import jdk.net.ExtendedSocketOptions;

/**
 * Who is on the other side of an accepted connection, as the kernel reports it, for the request
 * loop's per-request context.
 *
 * <p>The JDK's Unix-domain channels report the peer's user and group ({@code SO_PEERCRED} as a
 * {@link jdk.net.UnixDomainPrincipal}) but not its pid and not the numeric uid; the uid is known
 * when the peer is this process's own user (the check {@link PeerCheckedListener} makes on every
 * accept, compared as {@link Peers} compares). junixsocket's channels (abstract endpoints, adopted
 * descriptors) report pid and uid; junixsocket is touched only for a channel that already is one of
 * its own, so a plain daemon never loads it here.
 */
public final class PeerCredentials {
  private PeerCredentials() {}

  /** Unknown pid or uid. */
  public static final long UNKNOWN = -1;

  /**
   * The peer's pid and uid, {@link #UNKNOWN} where the channel cannot tell. Never throws.
   *
   * @return a two-element array: pid, uid
   */
  public static long[] of(SocketChannel channel) {
    if (channel.getClass().getName().startsWith("org.newsclub.")) {
      return JunixCredentials.of(channel);
    }
    try {
      UserPrincipal user = channel.getOption(ExtendedSocketOptions.SO_PEERCRED).user();
      return new long[] {UNKNOWN, user.equals(Peers.currentUser()) ? ProcessIdentity.currentUid() : UNKNOWN};
    } catch (IOException | RuntimeException e) {
      return new long[] {UNKNOWN, UNKNOWN};
    }
  }

  /** The junixsocket half, in a class of its own so that its classes load only for its channels. */
  private static final class JunixCredentials {
    static long[] of(SocketChannel channel) {
      try {
        org.newsclub.net.unix.AFUNIXSocketCredentials c =
            ((org.newsclub.net.unix.AFUNIXSocketChannel) channel).getPeerCredentials();
        if (c == null) {
          return new long[] {UNKNOWN, UNKNOWN};
        }
        return new long[] {c.getPid() > 0 ? c.getPid() : UNKNOWN, c.getUid() >= 0 ? c.getUid() : UNKNOWN};
      } catch (IOException | RuntimeException | LinkageError e) {
        return new long[] {UNKNOWN, UNKNOWN};
      }
    }
  }
}
