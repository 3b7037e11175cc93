package dev.fastbind.conformance;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.broker.ServiceDefinition;
import java.util.List;
import java.util.Objects;

/**
 * The backend a {@link BrokeredBackendVerification} checks, and how to start it as a daemon process.
 *
 * <p>{@code backendClass} is analysed in bytecode and instantiated in the test JVM (through its
 * no-argument constructor) for the in-process rules. {@code daemonMain} is the class whose
 * {@code main} calls {@code Daemon.builder(service, new Backend()).version(version).run(args)}; the
 * kit starts it with the real broker in a fresh JVM on the test class path, so {@code service} and
 * {@code version} must be what that {@code main} passes. {@code javaOptions} go before the class name
 * on the daemon's command line (for example {@code -Xmx64m}).
 *
 * @param backendClass the class that implements {@link BrokeredBackend}
 * @param daemonMain the class whose {@code main} runs the daemon
 * @param service the service name the daemon runs as
 * @param version the version the daemon records in its lockfile
 * @param javaOptions JVM options for the daemon process, possibly empty
 */
public record BackendUnderTest(
    Class<? extends BrokeredBackend> backendClass,
    Class<?> daemonMain,
    String service,
    String version,
    List<String> javaOptions) {

  /**
   * Validates and copies the components.
   *
   * @param backendClass the class that implements {@link BrokeredBackend}; concrete
   * @param daemonMain the class whose {@code main} runs the daemon
   * @param service the service name the daemon runs as; a valid {@link ServiceDefinition} name
   * @param version the version the daemon records in its lockfile; not blank
   * @param javaOptions JVM options for the daemon process, possibly empty; copied
   * @throws IllegalArgumentException if the service name is invalid, the version blank or the backend
   *     class abstract
   */
  public BackendUnderTest {
    Objects.requireNonNull(backendClass, "backendClass");
    Objects.requireNonNull(daemonMain, "daemonMain");
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(version, "version");
    javaOptions = List.copyOf(Objects.requireNonNull(javaOptions, "javaOptions"));
    ServiceDefinition.checkName(service);
    if (version.isBlank()) {
      throw new IllegalArgumentException("version must not be blank");
    }
    if (backendClass.isInterface() || java.lang.reflect.Modifier.isAbstract(backendClass.getModifiers())) {
      throw new IllegalArgumentException(backendClass.getName() + " is abstract; name the concrete backend class");
    }
  }

  /**
   * A backend whose daemon runs with the JVM's default options.
   *
   * @param backendClass the class that implements {@link BrokeredBackend}
   * @param daemonMain the class whose {@code main} runs the daemon
   * @param service the service name the daemon runs as
   * @param version the version the daemon records in its lockfile
   * @return the backend, with no JVM options
   */
  public static BackendUnderTest of(Class<? extends BrokeredBackend> backendClass, Class<?> daemonMain,
      String service, String version) {
    return new BackendUnderTest(backendClass, daemonMain, service, version, List.of());
  }

  /**
   * This backend, with {@code options} as the daemon's JVM options.
   *
   * @param options the JVM options, replacing any set before
   * @return a copy of this backend with those options
   */
  public BackendUnderTest withJavaOptions(String... options) {
    return new BackendUnderTest(backendClass, daemonMain, service, version, List.of(options));
  }
}
