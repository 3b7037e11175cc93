package dev.fastbind.conformance;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.broker.ServiceDefinition;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

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
 * <p>{@code idleTimeout} opts the backend into the idle rule (501): how the kit starts the daemon
 * with a short {@code Daemon.Builder.idleTimeout}. A production timeout is hours, so the daemon's
 * {@code main} usually reads a shorter one from a system property of its own, and the backend
 * declares it with {@link #withIdleTimeout}; only rule 501 adds those options, so every other rule
 * runs the daemon as before. Without it rule 501 is reported as skipped.
 *
 * @param backendClass the class that implements {@link BrokeredBackend}
 * @param daemonMain the class whose {@code main} runs the daemon
 * @param service the service name the daemon runs as
 * @param version the version the daemon records in its lockfile
 * @param javaOptions JVM options for the daemon process, possibly empty
 * @param idleTimeout the idle timeout the daemon runs with for rule 501, and the JVM options that
 *     make it do so; empty when the backend declares none
 */
public record BackendUnderTest(
    Class<? extends BrokeredBackend> backendClass,
    Class<?> daemonMain,
    String service,
    String version,
    List<String> javaOptions,
    Optional<IdleTimeout> idleTimeout) {

  /**
   * The idle timeout a daemon runs with when started with {@code javaOptions} (added after the
   * backend's own {@link BackendUnderTest#javaOptions()}), for rule 501.
   *
   * @param timeout the idle timeout the daemon's {@code main} passes to {@code Daemon.Builder.idleTimeout}
   *     under those options; positive, and short (a second or two): rule 501 waits about three times it
   * @param javaOptions the JVM options that select that timeout (for example a system property the
   *     daemon's {@code main} reads), possibly empty when the daemon always runs with it
   */
  public record IdleTimeout(Duration timeout, List<String> javaOptions) {
    /**
     * Validates and copies the components.
     *
     * @param timeout the idle timeout; positive
     * @param javaOptions the JVM options that select it; copied
     * @throws IllegalArgumentException if the timeout is not positive
     */
    public IdleTimeout {
      Objects.requireNonNull(timeout, "timeout");
      javaOptions = List.copyOf(Objects.requireNonNull(javaOptions, "javaOptions"));
      if (timeout.isZero() || timeout.isNegative()) {
        throw new IllegalArgumentException("the idle timeout must be positive, got " + timeout
            + ": declare the short timeout the daemon runs with for the kit, e.g. Duration.ofSeconds(1)");
      }
    }
  }

  /**
   * Validates and copies the components.
   *
   * @param backendClass the class that implements {@link BrokeredBackend}; concrete
   * @param daemonMain the class whose {@code main} runs the daemon
   * @param service the service name the daemon runs as; a valid {@link ServiceDefinition} name
   * @param version the version the daemon records in its lockfile; not blank
   * @param javaOptions JVM options for the daemon process, possibly empty; copied
   * @param idleTimeout the idle timeout for rule 501, or empty
   * @throws IllegalArgumentException if the service name is invalid, the version blank or the backend
   *     class abstract
   */
  public BackendUnderTest {
    Objects.requireNonNull(backendClass, "backendClass");
    Objects.requireNonNull(daemonMain, "daemonMain");
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(version, "version");
    javaOptions = List.copyOf(Objects.requireNonNull(javaOptions, "javaOptions"));
    Objects.requireNonNull(idleTimeout, "idleTimeout");
    ServiceDefinition.checkName(service);
    if (version.isBlank()) {
      throw new IllegalArgumentException("version must not be blank");
    }
    if (backendClass.isInterface() || java.lang.reflect.Modifier.isAbstract(backendClass.getModifiers())) {
      throw new IllegalArgumentException(backendClass.getName() + " is abstract; name the concrete backend class");
    }
  }

  /**
   * A backend that declares no idle timeout (rule 501 is skipped for it).
   *
   * @param backendClass the class that implements {@link BrokeredBackend}
   * @param daemonMain the class whose {@code main} runs the daemon
   * @param service the service name the daemon runs as
   * @param version the version the daemon records in its lockfile
   * @param javaOptions JVM options for the daemon process, possibly empty
   * @throws IllegalArgumentException as the canonical constructor
   */
  public BackendUnderTest(Class<? extends BrokeredBackend> backendClass, Class<?> daemonMain, String service,
      String version, List<String> javaOptions) {
    this(backendClass, daemonMain, service, version, javaOptions, Optional.empty());
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
    return new BackendUnderTest(backendClass, daemonMain, service, version, List.of(options), idleTimeout);
  }

  /**
   * This backend, declaring that its daemon runs with idle timeout {@code timeout} when started with
   * {@code options} on top of its {@link #javaOptions()}: rule 501 then checks that it exits when
   * idle and not before. For example, for a {@code main} that reads {@code -Dcache.idle-ms}:
   * {@code withIdleTimeout(Duration.ofSeconds(1), "-Dcache.idle-ms=1000")}.
   *
   * <p>The SDK's idle clock runs from the daemon's start, warm-up included, and the kit connects as
   * soon as the lockfile is written; so declare a timeout longer than the daemon's warm-up under
   * those options, or have {@code serve} hold a {@code ServeContext.busy()} handle while it warms.
   *
   * @param timeout the idle timeout the daemon runs with under those options; positive, a second or two
   * @param options the JVM options that select it, possibly none
   * @return a copy of this backend with that idle timeout
   * @throws IllegalArgumentException if the timeout is not positive
   */
  public BackendUnderTest withIdleTimeout(Duration timeout, String... options) {
    return new BackendUnderTest(backendClass, daemonMain, service, version, javaOptions,
        Optional.of(new IdleTimeout(timeout, List.of(options))));
  }
}
