package dev.fastbind.testing;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.broker.DaemonBroker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.DeathRecord;
import dev.fastbind.broker.ListedDaemon;
import dev.fastbind.broker.ServiceDefinition;
import dev.fastbind.broker.ServiceStatus;
import dev.fastbind.broker.StopResult;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A {@link DaemonBroker} that answers from a script instead of starting anything: for unit tests of
 * launcher code that must react to what a real broker returns or throws, down to a
 * {@link dev.fastbind.broker.CrashLoopException} or an {@link dev.fastbind.broker.UntrustedStateException}
 * that would be hard to provoke with real processes.
 *
 * <p>Each {@link BrokerOperation} has its own queue of answers: a value ({@link #answer}) or an
 * exception ({@link #fail}). A call takes the next one; the last one stays and answers every later
 * call, so a single answer scripts "always". An operation with nothing scripted throws
 * {@link IllegalStateException} naming it, so a test notices a call it did not expect. The values
 * are the broker's own public records and exceptions, built with their public constructors; the
 * {@link #daemon} factory covers the common case.
 *
 * <pre>{@code
 * ScriptedBroker broker = ScriptedBroker.create()
 *     .fail(BrokerOperation.ENSURE_RUNNING, new CrashLoopException("hello", 3, Duration.ofSeconds(30),
 *         Duration.ofSeconds(12), Path.of("/run/user/1000/fastbind/hello.log"), ""))
 *     .answer(BrokerOperation.STOP, StopResult.NOT_RUNNING);
 * }</pre>
 *
 * <p>Thread-safe. Combine with {@link RecordingBroker} to assert the calls made.
 */
public final class ScriptedBroker implements DaemonBroker {

  private final Map<BrokerOperation, ArrayDeque<Object>> script = new EnumMap<>(BrokerOperation.class);

  private ScriptedBroker() {}

  /**
   * A broker with nothing scripted.
   *
   * @return a new, empty script
   */
  public static ScriptedBroker create() {
    return new ScriptedBroker();
  }

  /**
   * Adds {@code value} to what {@code operation} answers.
   *
   * @param operation the operation to script
   * @param value what it returns; an instance of {@link BrokerOperation#answerType()}
   * @return this broker
   * @throws IllegalArgumentException if {@code value} is not what {@code operation} returns
   */
  public synchronized ScriptedBroker answer(BrokerOperation operation, Object value) {
    Objects.requireNonNull(operation, "operation");
    Objects.requireNonNull(value, "value");
    if (!operation.answerType().isInstance(value)) {
      throw new IllegalArgumentException(operation + " returns a " + operation.answerType().getSimpleName()
          + ", not a " + value.getClass().getName() + ": script a value of that type, or fail(" + operation
          + ", exception) for an exception");
    }
    script.computeIfAbsent(operation, o -> new ArrayDeque<>()).add(value);
    return this;
  }

  /**
   * Adds a failure to what {@code operation} answers: the call throws {@code error}.
   *
   * @param operation the operation to script
   * @param error what it throws: an {@link IOException} (the broker's exception families) or a
   *     {@link RuntimeException} (such as the {@link IllegalArgumentException} of a negative grace)
   * @return this broker
   * @throws IllegalArgumentException if {@code error} is a checked exception other than an {@link IOException}
   */
  public synchronized ScriptedBroker fail(BrokerOperation operation, Exception error) {
    Objects.requireNonNull(operation, "operation");
    Objects.requireNonNull(error, "error");
    if (!(error instanceof IOException) && !(error instanceof RuntimeException)) {
      throw new IllegalArgumentException("a broker throws IOExceptions and RuntimeExceptions only, not "
          + error.getClass().getName());
    }
    script.computeIfAbsent(operation, o -> new ArrayDeque<>()).add(new Failure(error));
    return this;
  }

  /**
   * A serving daemon of {@code service} at {@code endpoint}, as {@code ensureRunning} returns when it
   * reused one: for scripts whose launcher connects to a socket the test serves itself.
   *
   * @param service the service name
   * @param endpoint where the daemon listens
   * @return a {@link DaemonInfo.Stage#SERVING} daemon with this JVM's pid, no spawn reason and a fixed instance id
   */
  public static DaemonInfo daemon(String service, Endpoint endpoint) {
    return new DaemonInfo(service, endpoint, endpoint, ProcessHandle.current().pid(),
        "5c21bed0000000000000000000000000", Optional.empty(), Optional.empty(), "", Duration.ZERO,
        DaemonInfo.Stage.SERVING);
  }

  private record Failure(Exception error) {}

  private synchronized Object next(BrokerOperation operation) throws IOException {
    ArrayDeque<Object> answers = script.get(operation);
    if (answers == null || answers.isEmpty()) {
      throw new IllegalStateException("ScriptedBroker: " + operation + " was called but nothing is scripted for it:"
          + " script it with answer(BrokerOperation." + operation + ", …) or fail(BrokerOperation." + operation
          + ", …)");
    }
    Object a = answers.size() > 1 ? answers.poll() : answers.peek();
    if (a instanceof Failure f) {
      if (f.error() instanceof IOException io) {
        throw io;
      }
      throw (RuntimeException) f.error();
    }
    return a;
  }

  @SuppressWarnings("unchecked")
  private <T> T next(BrokerOperation operation, Class<T> type) throws IOException {
    return (T) next(operation);
  }

  @Override
  public DaemonInfo ensureRunning(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    return next(BrokerOperation.ENSURE_RUNNING, DaemonInfo.class);
  }

  @Override
  public DaemonInfo replace(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    return next(BrokerOperation.REPLACE, DaemonInfo.class);
  }

  @Override
  public DaemonInfo awaitServing(DaemonInfo daemon, Duration timeout) throws IOException {
    Objects.requireNonNull(daemon, "daemon");
    Objects.requireNonNull(timeout, "timeout");
    return next(BrokerOperation.AWAIT_SERVING, DaemonInfo.class);
  }

  @Override
  public ServiceStatus status(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    return next(BrokerOperation.STATUS, ServiceStatus.class);
  }

  @Override
  public StopResult stop(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    return next(BrokerOperation.STOP, StopResult.class);
  }

  @Override
  public StopResult stop(ServiceDefinition definition, Duration grace) throws IOException {
    Objects.requireNonNull(definition, "definition");
    Objects.requireNonNull(grace, "grace");
    return next(BrokerOperation.STOP, StopResult.class);
  }

  @Override
  public List<ListedDaemon> list() throws IOException {
    return listed(next(BrokerOperation.LIST, List.class));
  }

  @Override
  public List<ListedDaemon> list(Path runtimeDirectory) throws IOException {
    Objects.requireNonNull(runtimeDirectory, "runtimeDirectory");
    return listed(next(BrokerOperation.LIST, List.class));
  }

  @Override
  public StopResult stop(ListedDaemon daemon, Duration grace) throws IOException {
    Objects.requireNonNull(daemon, "daemon");
    Objects.requireNonNull(grace, "grace");
    return next(BrokerOperation.STOP_LISTED, StopResult.class);
  }

  @Override
  public List<Path> clean(Duration unusedFor) throws IOException {
    Objects.requireNonNull(unusedFor, "unusedFor");
    return paths(next(BrokerOperation.CLEAN, List.class));
  }

  @Override
  public List<Path> clean(Path runtimeDirectory, Duration unusedFor) throws IOException {
    Objects.requireNonNull(runtimeDirectory, "runtimeDirectory");
    Objects.requireNonNull(unusedFor, "unusedFor");
    return paths(next(BrokerOperation.CLEAN, List.class));
  }

  @Override
  public Optional<DeathRecord> lastDeath(ServiceDefinition definition) throws IOException {
    Objects.requireNonNull(definition, "definition");
    Optional<?> o = next(BrokerOperation.LAST_DEATH, Optional.class);
    return o.map(v -> checked(v, DeathRecord.class, BrokerOperation.LAST_DEATH));
  }

  private static List<ListedDaemon> listed(List<?> l) {
    return l.stream().map(v -> checked(v, ListedDaemon.class, BrokerOperation.LIST)).toList();
  }

  private static List<Path> paths(List<?> l) {
    return l.stream().map(v -> checked(v, Path.class, BrokerOperation.CLEAN)).toList();
  }

  private static <T> T checked(Object v, Class<T> type, BrokerOperation op) {
    if (!type.isInstance(v)) {
      throw new IllegalStateException("ScriptedBroker: the answer scripted for " + op + " holds a "
          + v.getClass().getName() + " where a " + type.getSimpleName() + " belongs");
    }
    return type.cast(v);
  }

  @Override
  public synchronized String toString() {
    return "ScriptedBroker" + script;
  }
}
