package dev.fastbind.backend.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;

/** Factories for {@link IpcListener}: JDK channels for paths, junixsocket only where needed. */
public final class Listeners {
  private Listeners() {}

  /** See {@link IpcListener#bind(Endpoint)}. */
  public static IpcListener bind(Endpoint endpoint) throws BindException {
    throw new BindException.Other(endpoint.toString(), "not implemented yet", null);
  }
}
