package dev.fastbind.testing;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.broker.Broker;
import dev.fastbind.broker.DaemonBroker;
import dev.fastbind.broker.DaemonClient;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceDefinition;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * A backend served inside the test's JVM on a temporary endpoint, for as long as the test holds it:
 * the real {@code bind}, {@code serve} and request loop over a real Unix socket, reached through a
 * real {@link DaemonClient}, with no process to spawn, wait for or clean up. It is the broker's
 * {@linkplain ServiceDefinition.Builder#inProcess in-process mode} under a broker of its own, so
 * nothing is shared with other tests and {@link #close()} leaves no file or thread.
 *
 * <pre>{@code
 * try (InProcessDaemon hello = InProcessDaemon.start("hello", HelloBackend::new)) {
 *   String answer = hello.client().call("world", Codec.utf8());
 * }
 * }</pre>
 *
 * <p>{@link InProcessDaemonExtension} does the same per JUnit 5 test.
 */
public final class InProcessDaemon implements AutoCloseable {

  private final DaemonBroker broker;
  private final ServiceDefinition definition;
  private final DaemonInfo daemon;
  private final List<DaemonClient> clients = new ArrayList<>();

  private InProcessDaemon(DaemonBroker broker, ServiceDefinition definition, DaemonInfo daemon) {
    this.broker = broker;
    this.definition = definition;
    this.daemon = daemon;
  }

  /**
   * Starts {@code backend} in-process as service {@code service}; returns once it is bound.
   *
   * @param service the service name, as {@link ServiceDefinition#builder} checks it
   * @param backend makes the backend
   * @return the running backend
   * @throws IOException as {@link DaemonBroker#ensureRunning} throws, such as a
   *     {@link dev.fastbind.broker.DaemonStartException} when {@code bind} failed
   */
  public static InProcessDaemon start(String service, Supplier<? extends BrokeredBackend> backend) throws IOException {
    Objects.requireNonNull(backend, "backend");
    return start(ServiceDefinition.builder(service).inProcess(backend).build());
  }

  /**
   * Starts the in-process backend of {@code definition}, such as a launcher's own definition with
   * {@link ServiceDefinition.Builder#inProcess} set, so the test runs the launcher's arguments and version.
   *
   * @param definition an in-process definition
   * @return the running backend
   * @throws IllegalArgumentException if {@code definition} does not run in-process
   * @throws IOException as {@link DaemonBroker#ensureRunning} throws
   */
  public static InProcessDaemon start(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    if (definition.inProcessBackend().isEmpty()) {
      throw new IllegalArgumentException("service '" + definition.name() + "' is not an in-process definition:"
          + " build it with .inProcess(MyBackend::new)");
    }
    Broker broker = Broker.create();
    return new InProcessDaemon(broker, definition, broker.ensureRunning(definition));
  }

  /**
   * The broker that runs it: hand it to launcher code under test, so its {@code ensureRunning} finds this backend.
   *
   * @return a broker private to this daemon
   */
  public DaemonBroker broker() {
    return broker;
  }

  /**
   * The definition it runs under.
   *
   * @return the in-process definition
   */
  public ServiceDefinition definition() {
    return definition;
  }

  /**
   * What {@code ensureRunning} returned for it: this JVM's pid, its endpoint and instance id.
   *
   * @return the daemon as started
   */
  public DaemonInfo daemon() {
    return daemon;
  }

  /**
   * The endpoint it listens on, in a private temporary directory.
   *
   * @return the endpoint
   */
  public Endpoint endpoint() {
    return daemon.endpoint();
  }

  /**
   * A new client of it, closed by {@link #close()}.
   *
   * @return a client over this daemon's broker and definition
   */
  public synchronized DaemonClient client() {
    DaemonClient c = DaemonClient.create(broker, definition);
    clients.add(c);
    return c;
  }

  /**
   * Closes the clients and stops the backend: its shutdown actions run, its threads end and its
   * directory goes. Idempotent.
   *
   * @throws IOException as {@link DaemonBroker#stop(ServiceDefinition, Duration)} throws
   */
  @Override
  public void close() throws IOException {
    List<DaemonClient> open;
    synchronized (this) {
      open = new ArrayList<>(clients);
      clients.clear();
    }
    for (DaemonClient c : open) {
      c.close();
    }
    broker.stop(definition, ServiceDefinition.DEFAULT_STOP_GRACE);
  }
}
