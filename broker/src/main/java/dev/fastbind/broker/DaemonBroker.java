package dev.fastbind.broker;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * What a launcher asks of a broker: make sure a service's daemon runs, report on it, stop it, list
 * and clean the runtime directory. {@link Broker} is the implementation; the interface exists so that
 * launcher code can take it as a parameter and its tests hand in another, such as the scripted and
 * recording brokers of {@code fastbind-testing}, without spawning a process. {@link DaemonClient}
 * takes one for the same reason.
 *
 * <p><b>The contract an implementation honours</b>, and what a scripted one should reproduce: every
 * method is thread-safe and takes non-null arguments ({@link NullPointerException} otherwise). What
 * a real broker reports about the daemon or its runtime files is one of the sealed
 * {@link BrokerException} family ({@link DaemonStartException}, {@link CrashLoopException},
 * {@link DaemonUnresponsiveException}, {@link VersionMismatchException}, {@link UntrustedStateException},
 * {@link RuntimeFileException}, {@link SpawnLockTimeoutException}; the family's
 * {@link RestartLimitException} is a {@link WorkerPool}'s, never a broker's); any other {@link IOException} is a
 * plain I/O failure ({@link java.io.InterruptedIOException} when the thread was interrupted,
 * {@link java.net.SocketTimeoutException} from {@link #awaitServing}). The {@link DaemonCallException}
 * family is never thrown here: it is what {@link DaemonClient} adds once it has a daemon to call, and
 * an implementation that throws one from {@link #ensureRunning} has the client pass it to its caller
 * unchanged. Static helpers ({@link Broker#runtimeDirectory}, {@link Broker#defaultRuntimeDirectory})
 * stay on {@link Broker}.
 */
public interface DaemonBroker {

  /**
   * Returns the running daemon of {@code definition}, starting it when there is none.
   *
   * @param definition the service to make sure of
   * @return the daemon; {@link DaemonInfo#spawned()} tells whether this call started it
   * @throws DaemonStartException if a started daemon exited, reported a failure or was not ready in time
   * @throws CrashLoopException if the service was started too often recently; nothing was started
   * @throws DaemonUnresponsiveException if the recorded daemon is stopped or wedged and the
   *     definition says {@link UnresponsivePolicy#REPORT}
   * @throws VersionMismatchException if the running version differs and the definition says
   *     {@link VersionPolicy#FAIL}
   * @throws SpawnLockTimeoutException if another launcher held the spawn lock beyond the definition's patience
   * @throws UntrustedStateException if the runtime files and the kernel disagree; nothing was changed
   * @throws RuntimeFileException if the runtime directory or a runtime file is unsafe or unwritable
   * @throws IOException for other I/O failures
   */
  DaemonInfo ensureRunning(ServiceDefinition definition) throws IOException;

  /**
   * Replaces the running daemon of {@code definition} by a fresh one, or starts one when none runs.
   *
   * @param definition the service to replace
   * @return the new daemon, with {@link SpawnReason#REPLACE_REQUESTED} or the reason a start was needed
   * @throws IOException as {@link #ensureRunning} throws
   */
  DaemonInfo replace(ServiceDefinition definition) throws IOException;

  /**
   * Waits until a daemon {@link #ensureRunning} returned as {@link DaemonInfo.Stage#BOUND} serves.
   *
   * @param daemon what {@code ensureRunning} returned
   * @param timeout how long to wait at most
   * @return the daemon as {@link DaemonInfo.Stage#SERVING}, or {@code daemon} when nothing more is known
   * @throws DaemonStartException if the daemon exited, refused the listener or was not ready in time
   * @throws java.net.SocketTimeoutException if it is still starting after {@code timeout}
   * @throws IOException for other I/O failures
   */
  DaemonInfo awaitServing(DaemonInfo daemon, Duration timeout) throws IOException;

  /**
   * Reports the state of {@code definition}'s daemon without changing anything.
   *
   * @param definition the service to report on
   * @return one of the {@link ServiceStatus} records; an unsafe state is {@link ServiceStatus.Untrusted}, not thrown
   * @throws RuntimeFileException if the runtime directory is not a directory, not this user's or open to others
   * @throws IOException if the runtime files cannot be read
   */
  ServiceStatus status(ServiceDefinition definition) throws IOException;

  /**
   * Stops {@code definition}'s daemon with the definition's default grace of 5 s.
   *
   * @param definition the service to stop
   * @return how the stop ended; every value means no daemon of the service runs any more
   * @throws IOException as {@link #stop(ServiceDefinition, Duration)} throws
   */
  StopResult stop(ServiceDefinition definition) throws IOException;

  /**
   * Stops {@code definition}'s daemon, killing it once {@code grace} has passed; idempotent.
   *
   * @param definition the service to stop
   * @param grace how long the daemon has to exit; not negative
   * @return how the stop ended; every value means no daemon of the service runs any more
   * @throws IllegalArgumentException if {@code grace} is negative
   * @throws SpawnLockTimeoutException if another launcher held the spawn lock beyond the definition's patience
   * @throws UntrustedStateException if the recorded process is not provably the daemon; nothing was signalled
   * @throws RuntimeFileException if the runtime directory is unsafe
   * @throws IOException for other I/O failures
   */
  StopResult stop(ServiceDefinition definition, Duration grace) throws IOException;

  /**
   * Every daemon slot in the per-user default runtime directory.
   *
   * @return the slots found, ordered by service name
   * @throws IOException as {@link #list(Path)} throws
   */
  List<ListedDaemon> list() throws IOException;

  /**
   * Every daemon slot in {@code runtimeDirectory}, changing nothing.
   *
   * @param runtimeDirectory the directory to look in; absolute
   * @return the slots found, ordered by service name; empty when the directory does not exist
   * @throws IllegalArgumentException if {@code runtimeDirectory} is relative
   * @throws RuntimeFileException if the directory is not a directory, not this user's or open to others
   * @throws IOException if the directory cannot be read
   */
  List<ListedDaemon> list(Path runtimeDirectory) throws IOException;

  /**
   * Stops the daemon of one slot {@link #list(Path)} found.
   *
   * @param daemon a slot {@code list} returned
   * @param grace how long the daemon has to exit; not negative
   * @return how the stop ended
   * @throws IOException as {@link #stop(ServiceDefinition, Duration)} throws
   */
  StopResult stop(ListedDaemon daemon, Duration grace) throws IOException;

  /**
   * Removes, from the per-user default runtime directory, the files of services unused for {@code unusedFor}.
   *
   * @param unusedFor how long a service's files must have been left unchanged; not negative
   * @return the files removed
   * @throws IOException as {@link #clean(Path, Duration)} throws
   */
  List<Path> clean(Duration unusedFor) throws IOException;

  /**
   * Removes the files of services in {@code runtimeDirectory} that have not run for {@code unusedFor}.
   *
   * @param runtimeDirectory the directory to clean
   * @param unusedFor how long a service's files must have been left unchanged; not negative
   * @return the files removed, in the order removed
   * @throws IllegalArgumentException if {@code unusedFor} is negative
   * @throws RuntimeFileException if the directory is not a directory, not this user's or open to others
   * @throws IOException if the directory cannot be listed
   */
  List<Path> clean(Path runtimeDirectory, Duration unusedFor) throws IOException;

  /**
   * How the last daemon of {@code definition} ended, changing nothing.
   *
   * @param definition the service asked about
   * @return the newest death record; empty when none is known
   * @throws RuntimeFileException if the runtime directory is unsafe
   * @throws IOException if the runtime directory cannot be read
   */
  Optional<DeathRecord> lastDeath(ServiceDefinition definition) throws IOException;
}
