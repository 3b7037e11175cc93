package dev.fastbind.backend.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;

/**
 * Who this process is, for comparing against a connecting peer's credentials.
 *
 * <p>The JDK reports a peer as a {@link UserPrincipal} built from its uid; comparing it with the owner
 * of {@code /proc/self} (also built from a uid) compares uids, not names, so it works even where the
 * user has no passwd entry.
 */
final class Peers {
  private Peers() {}

  private static final class Holder {
    static final UserPrincipal CURRENT = lookup();

    private static UserPrincipal lookup() {
      try {
        Path self = Path.of("/proc/self");
        if (Files.isDirectory(self)) {
          return Files.getOwner(self);
        }
        return FileSystems.getDefault().getUserPrincipalLookupService()
            .lookupPrincipalByName(System.getProperty("user.name"));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot determine the current user for peer-credential checks", e);
      }
    }
  }

  /** The user this process runs as. */
  static UserPrincipal currentUser() {
    return Holder.CURRENT;
  }

}
