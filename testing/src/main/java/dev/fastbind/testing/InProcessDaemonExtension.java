package dev.fastbind.testing;

import dev.fastbind.backend.BrokeredBackend;
import java.util.Objects;
import java.util.function.Supplier;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * An {@link InProcessDaemon} for each JUnit 5 test: started before it, stopped after it, as
 * {@code @TempDir} gives each test a fresh directory. Register it on an instance field:
 *
 * <pre>{@code
 * @RegisterExtension
 * final InProcessDaemonExtension hello = InProcessDaemonExtension.of("hello", HelloBackend::new);
 *
 * @Test
 * void greets() throws IOException {
 *   assertEquals("hi", hello.daemon().client().call("hi", Codec.utf8()));
 * }
 * }</pre>
 *
 * <p>JUnit is a provided dependency of this artifact: only this class needs it.
 */
public final class InProcessDaemonExtension implements BeforeEachCallback, AfterEachCallback {

  private final String service;
  private final Supplier<? extends BrokeredBackend> backend;
  private volatile InProcessDaemon daemon;

  private InProcessDaemonExtension(String service, Supplier<? extends BrokeredBackend> backend) {
    this.service = service;
    this.backend = backend;
  }

  /**
   * An extension running {@code backend} in-process as {@code service} for each test.
   *
   * @param service the service name
   * @param backend makes a new backend for each test
   * @return the extension, to register with {@code @RegisterExtension}
   */
  public static InProcessDaemonExtension of(String service, Supplier<? extends BrokeredBackend> backend) {
    dev.fastbind.broker.ServiceDefinition.checkName(service);
    return new InProcessDaemonExtension(service, Objects.requireNonNull(backend, "backend"));
  }

  /**
   * The running test's daemon.
   *
   * @return the daemon started for the current test
   * @throws IllegalStateException outside a test (before each, after each)
   */
  public InProcessDaemon daemon() {
    InProcessDaemon d = daemon;
    if (d == null) {
      throw new IllegalStateException("no in-process '" + service + "' runs now: daemon() is for use inside a test"
          + " method, with the extension registered on an instance field");
    }
    return d;
  }

  @Override
  public void beforeEach(ExtensionContext context) throws Exception {
    daemon = InProcessDaemon.start(service, backend);
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    InProcessDaemon d = daemon;
    daemon = null;
    if (d != null) {
      d.close();
    }
  }
}
