package com.example.tinyd;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/** A tiny third-party daemon: default bind, answers "ok" to every connection, survives clients that hang up. */
public final class TinyBackend implements BrokeredBackend {

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    ByteBuffer ok = ByteBuffer.wrap("ok\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    context.ready();
    while (true) {
      try (SocketChannel c = listener.accept()) {
        c.write(ok.duplicate());
      } catch (java.io.IOException clientWentAway) {
        // a probe or client that hangs up early must not end the daemon (the kit's rule 303 caught this)
      }
    }
  }

  /** The daemon's entry point. */
  public static void main(String[] args) {
    Daemon.builder("tinyd", new TinyBackend()).version("1.0.0").run(args);
  }
}
