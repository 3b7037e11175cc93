package dev.fastbind.conformance.backends;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;

/**
 * Not broken: a backend that supports socket files only and declines abstract names the way the
 * contract asks, with {@code InvalidEndpoint}. Optional rule 207 must report it as skipped, not failed.
 */
public final class PathOnlyBackend implements BrokeredBackend {

  @Override
  public IpcListener bind(Endpoint endpoint) throws BindException {
    if (endpoint.path().isEmpty()) {
      throw new BindException.InvalidEndpoint(endpoint.toString(), "this daemon listens on socket files only");
    }
    return IpcListener.bind(endpoint);
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    context.ready();
    while (true) {
      listener.accept().close();
    }
  }
}
