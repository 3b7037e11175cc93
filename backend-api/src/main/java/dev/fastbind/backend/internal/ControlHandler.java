package dev.fastbind.backend.internal;

import java.util.Optional;

import dev.fastbind.backend.internal.wire.HelloReply;
import java.util.Map;

/**
 * What the control endpoint asks of the daemon: implemented by the SDK's bootstrap, called by
 * {@link ControlServer}.
 *
 * <p><b>Threads.</b> Methods are called on the server's connection threads, possibly several at
 * once and while the backend's {@code serve} is warming up, so implementations must be
 * thread-safe and must not block: read volatile or atomic state and return. {@link #shutdown()} is
 * the exception: it runs on its own thread and may block or exit the process.
 */
public interface ControlHandler {

  /** A fresh snapshot for {@code HELLO} (and the first fields of {@code STATUS}). Must not block. */
  HelloReply hello();

  /**
   * Extra fields appended to {@code STATUS}, in iteration order; keys must match {@code [a-z0-9._-]+}.
   * A key that collides with a built-in field is dropped with a logged warning. Must not block.
   */
  default Map<String, String> statusFields() {
    return Map.of();
  }

  /**
   * Begins a graceful stop (run shutdown actions, remove lockfile and socket, exit). Called at
   * most once per server, after the {@code OK} reply to {@code SHUTDOWN} was written, on a
   * dedicated daemon thread named {@code fastbind-control-<n>-shutdown}; it may block or call
   * {@link System#exit}.
   */
  void shutdown();

  /**
   * Begins a hand-over of the main listener to a successor: on a thread of its own, offer it at
   * {@code rendezvous}, then stop accepting, release the endpoints and exit after the shutdown
   * actions. Returns at once: empty when the hand-over began, else the reason it cannot. Must not block.
   */
  default Optional<String> handover(java.nio.file.Path rendezvous) {
    return Optional.of("this daemon does not hand its listener over");
  }
}
