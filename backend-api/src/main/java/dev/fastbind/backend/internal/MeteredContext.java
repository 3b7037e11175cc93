package dev.fastbind.backend.internal;

/**
 * A {@code ServeContext} that carries the daemon's meters: the SDK's own context, from which the
 * request loop takes them without the public {@code ServeContext} naming a Micrometer type (a
 * method there would either load Micrometer for every daemon or be typed {@code Object}).
 */
public interface MeteredContext {

  /** The daemon's meters; {@link DaemonMetrics#NONE} when it was given no registry. */
  DaemonMetrics metrics();
}
