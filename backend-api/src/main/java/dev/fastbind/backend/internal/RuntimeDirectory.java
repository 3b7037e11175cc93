package dev.fastbind.backend.internal;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The per-user directory that holds a service's sockets, lockfiles and logs, and the check that
 * keeps it private.
 *
 * <p>Everything fastbind trusts (the lockfile's pid, the socket it connects to) is only as safe as
 * the directory holding it, so {@link #ensureOwnerOnly(Path)} accepts a directory only when this
 * user owns it and nobody else can enter it. A missing directory is created with mode 0700 at
 * creation time; an existing one that fails the check is refused with an
 * {@link UnsafeRuntimeDirectoryException} and left exactly as found. POSIX file systems only.
 */
public final class RuntimeDirectory {

  private RuntimeDirectory() {}

  /**
   * Creates {@code dir} owner-only if it is missing (only its last component: the parent must
   * exist), then verifies without following links that it is a directory owned by this user with no
   * group or other permissions.
   *
   * @return {@code dir}
   * @throws UnsafeRuntimeDirectoryException if the directory exists but is not safe; it is not changed
   * @throws IOException if it cannot be created or inspected
   */
  public static Path ensureOwnerOnly(Path dir) throws IOException {
    Objects.requireNonNull(dir, "dir");
    // One lstat on the common path (the directory exists): launchers call this on every invocation.
    Map<String, Object> attrs;
    try {
      attrs = Files.readAttributes(dir, "unix:mode,uid", LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException missing) {
      try {
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      } catch (FileAlreadyExistsException raced) {
        // created (or replaced by something else) meanwhile: verified below, never changed
      } catch (NoSuchFileException e) {
        throw new IOException("cannot create runtime directory " + dir + ": its parent "
            + dir.toAbsolutePath().getParent() + " does not exist; create it or use another directory", e);
      }
      attrs = Files.readAttributes(dir, "unix:mode,uid", LinkOption.NOFOLLOW_LINKS);
    }
    int fileMode = (Integer) attrs.get("mode");
    int type = fileMode & S_IFMT;
    if (type == S_IFLNK) {
      throw new UnsafeRuntimeDirectoryException(dir, "the runtime directory is a symbolic link; fastbind does not "
          + "follow links here: replace it with a real directory (mkdir -m 700) or use another directory");
    }
    if (type != S_IFDIR) {
      throw new UnsafeRuntimeDirectoryException(dir, "the runtime directory path is not a directory: "
          + "move the file away or use another directory");
    }
    long owner = ((Integer) attrs.get("uid")).longValue();
    long me = ProcessIdentity.currentUid();
    if (owner != me) {
      throw new UnsafeRuntimeDirectoryException(dir, "the runtime directory is owned by uid " + owner
          + " (mode " + PosixFilePermissions.toString(permissions(fileMode)) + "), not by this user (uid " + me
          + "): use another directory");
    }
    if ((fileMode & 0077) != 0) {
      throw new UnsafeRuntimeDirectoryException(dir, "the runtime directory has mode "
          + PosixFilePermissions.toString(permissions(fileMode))
          + "; it must be owner-only: run 'chmod 700 " + dir + "' or use another directory");
    }
    return dir;
  }

  private static final int S_IFMT = 0170000;
  private static final int S_IFDIR = 0040000;
  private static final int S_IFLNK = 0120000;

  private static Set<PosixFilePermission> permissions(int mode) {
    Set<PosixFilePermission> set = EnumSet.noneOf(PosixFilePermission.class);
    PosixFilePermission[] order = {
        PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE,
        PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
        PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE};
    for (int i = 0; i < order.length; i++) {
      if ((mode & (0400 >> i)) != 0) {
        set.add(order[i]);
      }
    }
    return set;
  }

  /**
   * The default runtime directory for {@code app}: {@code $XDG_RUNTIME_DIR/<app>} when that variable
   * holds an absolute path, else {@code <java.io.tmpdir>/<app>-<user.name>}. Nothing is created.
   */
  public static Path defaultFor(String app) {
    Objects.requireNonNull(app, "app");
    if (app.isEmpty() || app.indexOf('/') >= 0 || app.indexOf('\0') >= 0 || app.equals(".") || app.equals("..")) {
      throw new IllegalArgumentException("app must be a single non-empty file name, was '" + app + "'");
    }
    String xdg = System.getenv("XDG_RUNTIME_DIR");
    if (xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute()) {
      return Path.of(xdg, app);
    }
    return Path.of(System.getProperty("java.io.tmpdir"), app + "-" + System.getProperty("user.name"));
  }
}
