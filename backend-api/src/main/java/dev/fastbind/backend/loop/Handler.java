package dev.fastbind.backend.loop;

import java.util.Objects;

/**
 * What the daemon does with one request: bytes in, bytes out.
 *
 * <p>The loop calls {@code handle} on the thread of the connection the request came on (a platform
 * thread unless {@link RequestLoop.Builder#virtualThreads} asked otherwise), at most
 * {@link RequestLoop.Builder#maxConcurrency} at once, and never twice at once for one connection:
 * requests on a connection are answered in order. A handler may block (on disk, on another
 * service); it is the daemon's own code and runs with the daemon's rights.
 *
 * <p><b>Failure.</b> An exception is answered with an error frame that carries its
 * {@code toString()}, and the connection stays usable; the client reports it as the handler's
 * failure, distinct from a dead daemon. <b>Cancellation.</b> When the client closes its connection
 * while its request runs (its deadline passed, its thread was interrupted, it exited), the handler's
 * thread is interrupted: once the request has been away from its socket for about 10 ms the loop
 * reads the connection in the handler's place and sees the close at once (a request that ends
 * sooner is simply answered into a closed socket). A handler that waits interruptibly frees its
 * slot then, one that ignores interrupts keeps it until it returns, and its answer is dropped.
 */
@FunctionalInterface
public interface Handler {

  /**
   * Answers one request.
   *
   * @param request the request's payload; the handler owns the array
   * @param context who sent it, and whether they are still waiting
   * @return the response payload, not null (an empty array is a valid answer); the loop owns it from here
   * @throws Exception to answer with an error frame instead
   */
  byte[] handle(byte[] request, RequestContext context) throws Exception;

  /**
   * A handler in terms of values: requests are decoded with {@code requests}, answers encoded with
   * {@code responses}. A request that does not decode is answered with an error frame naming the
   * codec's complaint, and {@code handler} is not called.
   *
   * @param requests the codec the client encodes its requests with
   * @param responses the codec the client decodes its answers with
   * @param handler what to do with each decoded request
   * @param <Q> the request type
   * @param <R> the response type
   * @return a byte handler for {@link RequestLoop}
   */
  static <Q, R> Handler of(Codec<Q> requests, Codec<R> responses, Typed<Q, R> handler) {
    Objects.requireNonNull(requests, "requests");
    Objects.requireNonNull(responses, "responses");
    Objects.requireNonNull(handler, "handler");
    return new Handler() {
      @Override
      public byte[] handle(byte[] request, RequestContext context) throws Exception {
        Q q;
        try {
          q = requests.decode(request);
        } catch (java.io.IOException e) {
          throw new java.io.IOException("cannot decode the request with " + requests + ": " + e.getMessage(), e);
        }
        return responses.encode(handler.handle(q, context));
      }
    };
  }

  /**
   * A handler of decoded values; see {@link Handler#of}.
   *
   * @param <Q> the request type
   * @param <R> the response type
   */
  @FunctionalInterface
  interface Typed<Q, R> {
    /**
     * Answers one decoded request.
     *
     * @param request the decoded request
     * @param context who sent it
     * @return the answer, encoded by the response codec
     * @throws Exception to answer with an error frame instead
     */
    R handle(Q request, RequestContext context) throws Exception;
  }
}
