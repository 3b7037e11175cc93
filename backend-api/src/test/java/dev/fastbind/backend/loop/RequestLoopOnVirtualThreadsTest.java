package dev.fastbind.backend.loop;

/**
 * Every behaviour of {@link RequestLoopTest} again with {@link RequestLoop.Builder#virtualThreads}
 * asked for: virtual threads on JDK 21 and later, the platform-thread fallback on 17.
 */
class RequestLoopOnVirtualThreadsTest extends RequestLoopTest {

  @Override
  RequestLoop.Builder builder() {
    return RequestLoop.builder().virtualThreads(true);
  }

  @Override
  boolean expectVirtualThreads() {
    return Runtime.version().feature() >= 21;
  }
}
