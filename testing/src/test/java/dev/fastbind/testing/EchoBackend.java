package dev.fastbind.testing;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.loop.Codec;
import dev.fastbind.backend.loop.Handler;
import dev.fastbind.backend.loop.RequestLoop;

/** Answers each request with {@code echo REQUEST} through the request loop. */
final class EchoBackend implements BrokeredBackend {
  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    return RequestLoop.builder().start(listener, context)
        .serve(Handler.of(Codec.utf8(), Codec.utf8(), (request, ctx) -> "echo " + request));
  }
}
