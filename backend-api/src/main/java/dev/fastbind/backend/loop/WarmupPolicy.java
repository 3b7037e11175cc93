package dev.fastbind.backend.loop;

/**
 * What the loop does with a request that arrives before the daemon is ready, that is before
 * {@link RequestLoop#serve(Handler)} hands it its handler (which also calls
 * {@link dev.fastbind.backend.ServeContext#ready()}).
 */
public enum WarmupPolicy {
  /**
   * Hold the request until the handler is there, then answer it as if it had just arrived. The
   * client simply waits, within its own deadline. The default: a launcher usually needs the answer,
   * not a progress report.
   */
  WAIT,
  /**
   * Answer at once with a {@code WARMING} frame that carries the last progress reported through
   * {@link dev.fastbind.backend.ServeContext#progress}; the request is not run and the connection stays
   * usable, so the client may show the progress and ask again.
   */
  ANSWER_WARMING
}
