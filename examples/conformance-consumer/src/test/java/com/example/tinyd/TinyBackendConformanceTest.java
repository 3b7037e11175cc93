package com.example.tinyd;

import dev.fastbind.conformance.BackendUnderTest;
import dev.fastbind.conformance.BrokeredBackendVerification;

/** The whole integration: one class, one factory method. Named *Test so Surefire runs it. */
class TinyBackendConformanceTest extends BrokeredBackendVerification {
  @Override
  protected BackendUnderTest backend() {
    return BackendUnderTest.of(TinyBackend.class, TinyBackend.class, "tinyd", "1.0.0");
  }
}
