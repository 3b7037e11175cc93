package dev.fastbind.backend.internal;

import java.io.Closeable;
import java.io.IOException;

/** Closing what a failure path or a finished exchange abandons: the one place that swallows a close's error. */
public final class Closeables {
  private Closeables() {}

  /**
   * Closes {@code closeable}, ignoring an {@link IOException}: the caller is abandoning it (a socket
   * on a failure path, a connection it is done with, a read-only procfs file), so there is nothing
   * useful to report and the original outcome must not be replaced. Null is ignored.
   */
  public static void closeQuietly(Closeable closeable) {
    if (closeable == null) {
      return;
    }
    try {
      closeable.close();
    } catch (IOException ignored) {
      // abandoned: see the method doc
    }
  }
}
