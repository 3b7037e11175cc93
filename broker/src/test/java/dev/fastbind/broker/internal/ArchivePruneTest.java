package dev.fastbind.broker.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Class-data-sharing archives of class paths or JDKs no longer in use are removed, oldest first. */
class ArchivePruneTest {

  @TempDir Path dir;

  private Path archive(String name, Duration age) throws Exception {
    Path p = Files.write(dir.resolve(name), new byte[8]);
    FileTime t = FileTime.from(Instant.now().minus(age));
    Files.getFileAttributeView(p, BasicFileAttributeView.class).setTimes(t, t, null);
    return p;
  }

  @Test
  void archivesUnusedForLongOrBeyondTheCountGoAndTheCurrentOneStays() throws Exception {
    Path current = archive("svc.cur.jsa", Duration.ofDays(30));
    Path a = archive("svc.a.jsa", Duration.ofHours(1));
    Path b = archive("svc.b.jsa", Duration.ofHours(2));
    Path c = archive("svc.c.jsa", Duration.ofHours(3));
    Path d = archive("svc.d.jsa", Duration.ofHours(4));
    Path old = archive("svc.old.jsa", Duration.ofDays(8));
    Path other = archive("other.x.jsa", Duration.ofDays(30));
    Path link = Files.createSymbolicLink(dir.resolve("svc.link.jsa"), other);
    long cutoff = System.currentTimeMillis() - Duration.ofDays(7).toMillis();

    List<Path> removed = SharedArchive.prune(dir, "svc", current, 4, cutoff);

    assertEquals(Set.of(d, old), Set.copyOf(removed), "beyond the count (oldest first) and unused for long");
    for (Path kept : List.of(current, a, b, c, other)) {
      assertTrue(Files.exists(kept), kept + " stays");
    }
    assertTrue(Files.isSymbolicLink(link));
  }
}
