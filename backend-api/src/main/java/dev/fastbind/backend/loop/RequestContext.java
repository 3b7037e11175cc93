package dev.fastbind.backend.loop;

import java.util.OptionalLong;

/**
 * Who sent a request, as the kernel reports it, and whether they are still waiting for the answer.
 * One per request; valid only during {@link Handler#handle}. Thread-safe.
 *
 * <p><b>Credentials.</b> Read once per connection from the kernel, never from anything the peer
 * sent. The uid is known for every connection the SDK's listeners accept (they admit only the
 * daemon's own user). The pid is known where the socket reports it: on junixsocket's channels
 * (abstract endpoints, and listeners adopted from systemd at descriptor 3). The JDK's own
 * Unix-domain channels, which serve socket paths, report the peer's user but not its pid, so there
 * it is empty.
 */
public interface RequestContext {

  /**
   * The peer's process id.
   *
   * @return the pid of the process that opened the connection, or empty where the channel cannot
   *     tell (see the type's documentation)
   */
  OptionalLong peerPid();

  /**
   * The peer's user id.
   *
   * @return the uid of the process that opened the connection; empty only for a listener that does not
   *     check its peers and whose channels do not report one
   */
  OptionalLong peerUid();

  /**
   * A number for the connection the request came on, unique within this loop, so that a handler can
   * keep per-connection state or tell requests of one client apart in its log.
   *
   * @return 1 for the loop's first connection, growing by one per connection
   */
  long connectionId();

  /**
   * Whether the client has gone away (closed its connection) while this request ran. The handler's
   * thread is interrupted at the same moment; this is for handlers that poll instead.
   *
   * @return true once the loop saw the connection end; the answer will be dropped
   */
  boolean isCancelled();
}
