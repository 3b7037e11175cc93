package dev.fastbind.backend.internal.wire;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.Endpoint;
import java.nio.file.Path;

/**
 * The files one service keeps in the runtime directory: the one definition of the layout, used by
 * the daemon's bootstrap (its defaults), the broker, the conformance kit and the benchmarks. For
 * service {@code s}:
 *
 * <ul>
 *   <li>{@code s.sock}: the daemon's main endpoint; {@code s.ctl}: the SDK's control endpoint
 *   <li>{@code s.lock}: the lockfile record the daemon writes ({@link LockfileCodec})
 *   <li>{@code s.spawn-lock}: an empty file that launchers lock exclusively on the cold path; kept
 *       apart from the record so that reading the record never touches the lock
 *   <li>{@code s.log}: the daemon's stdout and stderr, appended; rotated to {@code s.log.1}
 *   <li>{@code s.spawns}: the crash-loop guard's recent spawn times, shared by all launchers
 *   <li>{@code s.notify}: the readiness socket ({@link Readiness}), bound only while a spawn waits
 *   <li>{@code s.handoff}: the rendezvous socket through which a listening socket passes from the
 *       broker (or the daemon being replaced) to a new daemon; bound only for that moment
 *   <li>{@code s.<key>.jsa}: a Java daemon's class-data sharing archive, kept across starts
 * </ul>
 *
 * Every name starts with the service name and a dot, and service names contain no dot, so two services
 * in one directory never share a file. A daemon that runs beside the service's first one with another
 * compatibility key ({@link #keyed}) has the same files named {@code s~<id>.…}; {@code ~} appears in
 * no service name either.
 *
 * @param service the service name
 * @param directory the runtime directory, absolute and normalised
 * @param endpoint {@code s.sock}
 * @param controlEndpoint {@code s.ctl}
 * @param lockfile {@code s.lock}
 * @param spawnLock {@code s.spawn-lock}
 * @param log {@code s.log}
 * @param spawns {@code s.spawns}
 * @param notifySocket {@code s.notify}
 */
public record ServiceLayout(
    String service,
    Path directory,
    Endpoint endpoint,
    Endpoint controlEndpoint,
    Path lockfile,
    Path spawnLock,
    Path log,
    Path spawns,
    Path notifySocket) {

  /** The lockfile's suffix. */
  public static final String LOCKFILE_SUFFIX = ".lock";

  /**
   * The layout of {@code service} in {@code directory}.
   *
   * @throws BindException.InvalidEndpoint if the endpoint or control endpoint path would be too long
   *     for the platform (the notify socket, which only a broker binds, is checked by the broker)
   */
  public static ServiceLayout of(String service, Path directory) throws BindException.InvalidEndpoint {
    return named(service, service, directory);
  }

  /** The separator between a service name and a compatibility id in a side-by-side daemon's file names. */
  public static final String KEY_SEPARATOR = "~";

  /**
   * The layout of a daemon of {@code service} that runs beside the service's first one because its
   * compatibility key differs: the same files, named {@code s~<id>.sock}, {@code s~<id>.lock}, … .
   *
   * @throws BindException.InvalidEndpoint if a socket path would be too long for the platform
   */
  public static ServiceLayout keyed(String service, Path directory, String compatibilityId)
      throws BindException.InvalidEndpoint {
    return named(service, service + KEY_SEPARATOR + compatibilityId, directory);
  }

  private static ServiceLayout named(String service, String prefix, Path directory) throws BindException.InvalidEndpoint {
    Path dir = directory.toAbsolutePath().normalize();
    Endpoint main = Endpoint.unixPath(dir.resolve(prefix + ".sock"));
    Endpoint control = Endpoint.unixPath(dir.resolve(prefix + ".ctl"));
    Path notify = dir.resolve(prefix + ".notify");
    return new ServiceLayout(service, dir, main, control, dir.resolve(prefix + LOCKFILE_SUFFIX),
        dir.resolve(prefix + ".spawn-lock"), dir.resolve(prefix + ".log"), dir.resolve(prefix + ".spawns"), notify);
  }

  /** {@code s.handoff} (or {@code s~<id>.handoff}): next to the lockfile, named like it. */
  private Path sibling(String suffix) {
    String name = lockfile.getFileName().toString();
    return directory.resolve(name.substring(0, name.length() - LOCKFILE_SUFFIX.length()) + suffix);
  }

  /** {@code s.handoff}: the listener hand-off rendezvous (see {@code Handoff}). */
  public Path handoffSocket() {
    return sibling(".handoff");
  }

  /** The prefix of this service's class-data sharing archives ({@code s.}); they end in {@code .jsa}. */
  public String archivePrefix() {
    return service + ".";
  }
}
