package dev.fastbind.examples.hello;

import dev.fastbind.conformance.BackendUnderTest;
import dev.fastbind.conformance.BrokeredBackendVerification;

/**
 * Every backend in {@code examples} is checked by the conformance kit, exactly as a daemon author
 * checks theirs: one subclass, one factory method. The daemon's main is the backend class itself.
 */
class HelloBackendConformanceTest extends BrokeredBackendVerification {
  @Override
  protected BackendUnderTest backend() {
    return BackendUnderTest.of(HelloBackend.class, HelloBackend.class, HelloBackend.SERVICE, HelloBackend.VERSION);
  }
}
