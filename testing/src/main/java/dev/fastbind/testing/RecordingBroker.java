package dev.fastbind.testing;

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
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A {@link DaemonBroker} that passes every call to another one and records it: which operation, with
 * which arguments, and what it returned or threw. For asserting what launcher code asked of its
 * broker (that {@code --stop} stops with the grace the user gave, that a status query never starts a
 * daemon), around a {@link ScriptedBroker} or a real {@link dev.fastbind.broker.Broker}.
 *
 * <pre>{@code
 * RecordingBroker broker = RecordingBroker.of(ScriptedBroker.create()
 *     .answer(BrokerOperation.STOP, StopResult.SHUT_DOWN));
 * launcher.run(broker, "stop");
 * assertEquals(List.of(BrokerOperation.STOP), broker.operations());
 * }</pre>
 *
 * <p>Thread-safe; calls are recorded in the order they returned.
 */
public final class RecordingBroker implements DaemonBroker {

  /**
   * One call, as it ended.
   *
   * @param operation which operation was called
   * @param arguments its arguments, in order (an overload is told by their number)
   * @param result what it returned; empty when it threw
   * @param thrown what it threw; empty when it returned
   */
  public record Call(BrokerOperation operation, List<Object> arguments, Optional<Object> result,
      Optional<Exception> thrown) {
    /**
     * Validates and copies.
     *
     * @param operation which operation was called
     * @param arguments its arguments, copied; an element may be null where the caller passed null
     * @param result what it returned
     * @param thrown what it threw
     * @throws IllegalArgumentException unless exactly one of {@code result} and {@code thrown} is present
     */
    public Call {
      Objects.requireNonNull(operation, "operation");
      // Copied, unmodifiable; a null argument (a call the broker refused) is kept as given.
      arguments = java.util.Collections.unmodifiableList(new ArrayList<>(arguments));
      Objects.requireNonNull(result, "result");
      Objects.requireNonNull(thrown, "thrown");
      if (result.isPresent() == thrown.isPresent()) {
        throw new IllegalArgumentException("a call either returned or threw: exactly one of result and thrown");
      }
    }
  }

  private final DaemonBroker delegate;
  private final List<Call> calls = new ArrayList<>();

  private RecordingBroker(DaemonBroker delegate) {
    this.delegate = delegate;
  }

  /**
   * Records every call made to {@code delegate} through the returned broker.
   *
   * @param delegate the broker that answers
   * @return a new recorder with no calls yet
   */
  public static RecordingBroker of(DaemonBroker delegate) {
    return new RecordingBroker(Objects.requireNonNull(delegate, "delegate"));
  }

  /**
   * The calls so far.
   *
   * @return an immutable snapshot, oldest first
   */
  public synchronized List<Call> calls() {
    return List.copyOf(calls);
  }

  /**
   * The operations called so far: the shortest assertion of what a launcher did.
   *
   * @return an immutable list, oldest first
   */
  public synchronized List<BrokerOperation> operations() {
    return calls.stream().map(Call::operation).toList();
  }

  /** Forgets the calls so far. */
  public synchronized void clear() {
    calls.clear();
  }

  private interface Invocation<T> {
    T run() throws IOException;
  }

  private <T> T record(BrokerOperation op, Invocation<T> invocation, Object... arguments) throws IOException {
    T value;
    try {
      value = invocation.run();
    } catch (IOException | RuntimeException e) {
      add(new Call(op, java.util.Arrays.asList(arguments), Optional.empty(), Optional.of(e)));
      throw e;
    }
    add(new Call(op, java.util.Arrays.asList(arguments), Optional.of(value), Optional.empty()));
    return value;
  }

  private synchronized void add(Call call) {
    calls.add(call);
  }

  @Override
  public DaemonInfo ensureRunning(ServiceDefinition definition) throws IOException {
    return record(BrokerOperation.ENSURE_RUNNING, () -> delegate.ensureRunning(definition), definition);
  }

  @Override
  public DaemonInfo replace(ServiceDefinition definition) throws IOException {
    return record(BrokerOperation.REPLACE, () -> delegate.replace(definition), definition);
  }

  @Override
  public DaemonInfo awaitServing(DaemonInfo daemon, Duration timeout) throws IOException {
    return record(BrokerOperation.AWAIT_SERVING, () -> delegate.awaitServing(daemon, timeout), daemon, timeout);
  }

  @Override
  public ServiceStatus status(ServiceDefinition definition) throws IOException {
    return record(BrokerOperation.STATUS, () -> delegate.status(definition), definition);
  }

  @Override
  public StopResult stop(ServiceDefinition definition) throws IOException {
    return record(BrokerOperation.STOP, () -> delegate.stop(definition), definition);
  }

  @Override
  public StopResult stop(ServiceDefinition definition, Duration grace) throws IOException {
    return record(BrokerOperation.STOP, () -> delegate.stop(definition, grace), definition, grace);
  }

  @Override
  public List<ListedDaemon> list() throws IOException {
    return record(BrokerOperation.LIST, delegate::list);
  }

  @Override
  public List<ListedDaemon> list(Path runtimeDirectory) throws IOException {
    return record(BrokerOperation.LIST, () -> delegate.list(runtimeDirectory), runtimeDirectory);
  }

  @Override
  public StopResult stop(ListedDaemon daemon, Duration grace) throws IOException {
    return record(BrokerOperation.STOP_LISTED, () -> delegate.stop(daemon, grace), daemon, grace);
  }

  @Override
  public List<Path> clean(Duration unusedFor) throws IOException {
    return record(BrokerOperation.CLEAN, () -> delegate.clean(unusedFor), unusedFor);
  }

  @Override
  public List<Path> clean(Path runtimeDirectory, Duration unusedFor) throws IOException {
    return record(BrokerOperation.CLEAN, () -> delegate.clean(runtimeDirectory, unusedFor), runtimeDirectory,
        unusedFor);
  }

  @Override
  public Optional<DeathRecord> lastDeath(ServiceDefinition definition) throws IOException {
    return record(BrokerOperation.LAST_DEATH, () -> delegate.lastDeath(definition), definition);
  }
}
