package dev.fastbind.broker.internal;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.Endpoint;
import java.nio.file.Path;

/**
 * The files one service keeps in the runtime directory. For service {@code s}:
 *
 * <ul>
 *   <li>{@code s.sock}: the daemon's main endpoint; {@code s.ctl}: the SDK's control endpoint
 *   <li>{@code s.lock}: the lockfile record the daemon writes (pid, start time, endpoints, version)
 *   <li>{@code s.spawn-lock}: an empty file that launchers lock exclusively on the cold path; kept
 *       apart from the record so that reading the record never touches the lock
 *   <li>{@code s.log}: the daemon's stdout and stderr, appended; rotated to {@code s.log.1} past 1 MiB
 *   <li>{@code s.spawns}: the crash-loop guard's recent spawn times, shared by all launchers
 *   <li>{@code s.notify}: the readiness socket, bound only while a spawn waits, then removed
 *   <li>{@code s.<key>.jsa}: a Java daemon's class-data sharing archive ({@link SharedArchive}), written
 *       when the daemon exits normally and kept across starts
 * </ul>
 *
 * Every name starts with the service name and a dot, and service names contain no dot, so two services
 * in one directory never share a file.
 */
public record ServicePaths(
    String service,
    Path directory,
    Endpoint endpoint,
    Endpoint controlEndpoint,
    Path lockfile,
    Path spawnLock,
    Path log,
    Path spawns,
    Path notifySocket) {

  /**
   * The paths of {@code service} in {@code directory}.
   *
   * @throws BindException.InvalidEndpoint if the socket paths would be too long for the platform
   */
  public static ServicePaths of(String service, Path directory) throws BindException.InvalidEndpoint {
    Path dir = directory.toAbsolutePath().normalize();
    Path notify = dir.resolve(service + ".notify");
    Endpoint.unixPath(notify);
    return new ServicePaths(service, dir,
        Endpoint.unixPath(dir.resolve(service + ".sock")),
        Endpoint.unixPath(dir.resolve(service + ".ctl")),
        dir.resolve(service + ".lock"),
        dir.resolve(service + ".spawn-lock"),
        dir.resolve(service + ".log"),
        dir.resolve(service + ".spawns"),
        notify);
  }
}
