package dev.fastbind.broker.internal;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Finds and checks the per-user runtime directory: it must be a real directory (not a symbolic
 * link), owned by the current user, and closed to everyone else. A missing directory is created
 * owner-only; an existing one that fails a check is refused with the command that fixes it, never
 * silently changed.
 */
public final class RuntimeDirs {
  private RuntimeDirs() {}

  /** {@code $XDG_RUNTIME_DIR/<app>} when set and absolute, else {@code <java.io.tmpdir>/<app>-<user>}. */
  public static Path defaultFor(String app) {
    String xdg = System.getenv("XDG_RUNTIME_DIR");
    if (xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute()) {
      return Path.of(xdg, app);
    }
    String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9._-]", "_");
    return Path.of(System.getProperty("java.io.tmpdir"), app + "-" + user).toAbsolutePath();
  }

  /**
   * Creates {@code dir} owner-only if it is missing, then checks it.
   *
   * @throws AccessDeniedException if another user owns it or others may use it
   * @throws NotDirectoryException if it is not a directory or is a symbolic link
   */
  public static void ensureOwnerOnly(Path dir) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      Path parent = dir.getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      try {
        Files.createDirectory(dir,
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      } catch (FileAlreadyExistsException raced) {
        // Another launcher created it first; it is checked below like any existing directory.
      }
    }
    PosixFileAttributes attrs = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    if (attrs.isSymbolicLink()) {
      throw new NotDirectoryException(dir + " is a symbolic link; the runtime directory must be a real "
          + "directory (symbolic links are never followed): remove it or choose another directory");
    }
    if (!attrs.isDirectory()) {
      throw new NotDirectoryException(dir + " exists but is not a directory: remove it or choose another runtime directory");
    }
    int ownerUid = (Integer) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    int myUid = currentUid();
    if (ownerUid != myUid) {
      throw new AccessDeniedException(dir.toString(), null, "the runtime directory is owned by uid "
          + ownerUid + ", not by the current user (uid " + myUid + "); choose a directory of your own");
    }
    Set<PosixFilePermission> perms = attrs.permissions();
    for (PosixFilePermission p : perms) {
      if (p.name().startsWith("GROUP") || p.name().startsWith("OTHERS")) {
        throw new AccessDeniedException(dir.toString(), null, "the runtime directory is open to others ("
            + PosixFilePermissions.toString(perms) + "); it must be owner-only: run chmod 700 " + dir);
      }
    }
  }

  /** The current process's real uid. */
  public static int currentUid() throws IOException {
    try {
      return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    } catch (UnsupportedOperationException | FileSystemException e) {
      throw new IOException("cannot learn the current uid from /proc/self: " + e.getMessage(), e);
    }
  }
}
