/**
 * A ready request loop for a daemon that wants no server stack of its own: length-prefixed frames
 * on the daemon's {@link dev.fastbind.backend.IpcListener}, a {@link dev.fastbind.backend.loop.Handler}
 * from request bytes to response bytes (typed through a {@link dev.fastbind.backend.loop.Codec}),
 * bounded concurrency, a warm-up policy and a graceful drain on shutdown.
 *
 * <p>Start with {@link dev.fastbind.backend.loop.RequestLoop}. The wire format is in
 * {@code docs/wire.md} ("Request loop protocol"), so clients in any language can speak it; the
 * broker module's {@code DaemonClient} is the Java one.
 */
package dev.fastbind.backend.loop;
