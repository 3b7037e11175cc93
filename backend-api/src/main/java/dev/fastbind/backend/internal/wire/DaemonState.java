package dev.fastbind.backend.internal.wire;

/**
 * A daemon's warm-up state as the control endpoint reports it in {@code HELLO}.
 *
 * <p>The wire form is the constant's name ({@code state=WARMING}); readers reject any other text
 * with a {@link ControlProtocolException} instead of guessing.
 */
public enum DaemonState {
  /** {@code serve} is running but the daemon has not called {@code ready()} yet. */
  WARMING,
  /** Warm-up has finished; the main endpoint is being served. */
  READY
}
