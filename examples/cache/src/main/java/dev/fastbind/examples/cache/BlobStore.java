package dev.fastbind.examples.cache;

import dev.fastbind.examples.cache.CacheProtocol.Damaged;
import dev.fastbind.examples.cache.CacheProtocol.Found;
import dev.fastbind.examples.cache.CacheProtocol.NotFound;
import dev.fastbind.examples.cache.CacheProtocol.Response;
import dev.fastbind.examples.cache.CacheProtocol.Statistics;
import dev.fastbind.examples.cache.CacheProtocol.Stored;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;

/**
 * The cache's files in its state directory, and the index of them in memory.
 *
 * <pre>
 * STATE/              owner-only (0700); refused if a symbolic link, not ours, or open to others
 *   index             "fastbind-cache-index 1\n", then one line per blob: KEY SIZE CRC32\n
 *   blobs/KEY         each blob, 0600, named by the SHA-256 of its content
 *   tmp/              blobs being written; what a crash left here is removed at the next start
 *   lock              0600, the pid of the daemon that holds it (a file lock, for the store's life)
 * </pre>
 *
 * <p><b>One daemon per directory.</b> {@link #open} takes {@code lock} before anything else and
 * waits (up to {@link #LOCK_PATIENCE}, reported as warm-up progress) while another process holds it:
 * a daemon replaced with the listener hand-off still drains while its successor starts, and two
 * daemons of one directory (launchers with different Java homes get one each) would remove each
 * other's temporary files, write over each other's index lines, and each miss what the other stored.
 * The lock goes with the store's {@code close} or the process.
 *
 * <p><b>Crash safety.</b> A put writes the blob to {@code tmp/}, forces it to disk, renames it into
 * {@code blobs/} (atomic: readers see no blob or the whole blob) and forces the directory; only then
 * does it append the index line, in one write, and force the index; only then is it answered. So a
 * {@code kill -9} (or a power cut) at any point leaves either no trace, a blob that a later put of
 * the same content adopts, or a torn last index line, which {@link #open} cuts off. Each line
 * carries a CRC-32 of its own text, so a torn or damaged line is never read as an entry.
 *
 * <p><b>Damage.</b> A get reads the blob and checks its SHA-256 against the key every time; a blob
 * that no longer matches is answered {@link Damaged}, never returned. A put of the same content
 * writes it again, which repairs it.
 *
 * <p>Thread-safe: gets run concurrently; appends to the index are serialised.
 */
final class BlobStore implements Closeable {

  static final String INDEX_HEADER = "fastbind-cache-index 1\n";
  private static final FileAttribute<?> OWNER_ONLY_DIR =
      PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
  private static final FileAttribute<?> OWNER_ONLY_FILE =
      PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

  /** Reports index-loading progress: percent and phase, as {@code ServeContext.progress} takes them. */
  interface Progress {
    void report(int percent, String phase);
  }

  private final Path directory;
  private final Path blobs;
  private final Path tmp;
  private final FileChannel index;
  private final FileChannel lock;
  private final Map<String, Long> sizes = new ConcurrentHashMap<>();
  private final AtomicLong bytes = new AtomicLong();
  private final AtomicLong hits = new AtomicLong();
  private final AtomicLong misses = new AtomicLong();
  private Duration indexLoad = Duration.ZERO;

  private BlobStore(Path directory, FileChannel index, FileChannel lock) {
    this.directory = directory;
    this.blobs = directory.resolve("blobs");
    this.tmp = directory.resolve("tmp");
    this.index = index;
    this.lock = lock;
  }

  /**
   * How long {@link #open} waits for another daemon to let go of the directory: a daemon being
   * replaced with the listener hand-off drains (a few seconds) while its successor starts.
   */
  static final Duration LOCK_PATIENCE = Duration.ofSeconds(10);

  /**
   * Why {@code dir} must not be used as a state directory, if it exists and must not: a symbolic
   * link, not a directory, another user's, or open to others. Nothing is changed. Empty if it is fine
   * or does not exist yet.
   */
  static Optional<String> refusal(Path dir) throws IOException {
    Map<String, Object> attrs;
    try {
      attrs = Files.readAttributes(dir, "unix:mode,uid", LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException missing) {
      return Optional.empty();
    }
    int mode = (Integer) attrs.get("mode");
    int type = mode & 0170000;
    if (type == 0120000) {
      return Optional.of("state directory " + dir + " is a symbolic link, which the cache does not follow:"
          + " point CACHECTL_STATE_DIR at the real directory");
    }
    if (type != 0040000) {
      return Optional.of("state directory " + dir + " is not a directory: move the file away or set CACHECTL_STATE_DIR");
    }
    int owner = (Integer) attrs.get("uid");
    int me = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    if (owner != me) {
      return Optional.of("state directory " + dir + " belongs to uid " + owner + ", not to you (uid " + me
          + "): set CACHECTL_STATE_DIR to a directory of your own");
    }
    if ((mode & 0077) != 0) {
      return Optional.of("state directory " + dir + " is open to other users (mode "
          + Integer.toOctalString(mode & 0777) + "): run chmod 700 " + dir);
    }
    return Optional.empty();
  }

  /**
   * Opens the store in {@code dir}, creating it owner-only if missing, and loads the index: each
   * line's checksum is checked and each blob's file looked up, reporting progress as it goes. A torn
   * last line (a crash during an append) is cut off; a damaged line elsewhere, or a line whose blob
   * file is gone, is skipped; each such repair is one line on stderr (the daemon's log).
   *
   * @param entryDelay an artificial pause per index entry, to show a slow warm-up; zero for none
   * @throws IOException if the directory is refused (see {@link #refusal}) or cannot be read
   */
  static BlobStore open(Path dir, Duration entryDelay, Progress progress) throws IOException, InterruptedException {
    return open(dir, entryDelay, progress, LOCK_PATIENCE);
  }

  /** {@link #open(Path, Duration, Progress)}, waiting at most {@code patience} for the directory's lock. */
  static BlobStore open(Path dir, Duration entryDelay, Progress progress, Duration patience)
      throws IOException, InterruptedException {
    long start = System.nanoTime();
    Files.createDirectories(dir.toAbsolutePath().getParent());
    try {
      Files.createDirectory(dir, OWNER_ONLY_DIR);
    } catch (FileAlreadyExistsException exists) {
      // checked below, never changed
    }
    Optional<String> refused = refusal(dir);
    if (refused.isPresent()) {
      throw new IOException(refused.get());
    }
    for (Path sub : new Path[] {dir.resolve("blobs"), dir.resolve("tmp")}) {
      try {
        Files.createDirectory(sub, OWNER_ONLY_DIR);
      } catch (FileAlreadyExistsException exists) {
        if (!Files.isDirectory(sub, LinkOption.NOFOLLOW_LINKS)) {
          throw new IOException(sub + " is not a directory: move it away, the cache keeps its files there");
        }
      }
    }
    // One daemon per directory: two would remove each other's temporary files, write over each other's
    // index lines and each miss what the other stored. Held until close() or the process's end.
    FileChannel lock = lock(dir, patience, progress);
    try {
      removeLeftovers(dir.resolve("tmp"));
    } catch (IOException | RuntimeException e) {
      lock.close();
      throw e;
    }
    Path indexFile = dir.resolve("index");
    if (!Files.exists(indexFile, LinkOption.NOFOLLOW_LINKS)) {
      writeAtomically(dir.resolve("tmp"), indexFile, INDEX_HEADER.getBytes(StandardCharsets.US_ASCII));
    }
    FileChannel index;
    try {
      index = FileChannel.open(indexFile, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    } catch (IOException | RuntimeException e) {
      lock.close();
      throw e;
    }
    BlobStore store = new BlobStore(dir, index, lock);
    try {
      store.load(indexFile, entryDelay, progress);
    } catch (IOException | InterruptedException | RuntimeException e) {
      store.close();
      throw e;
    }
    store.indexLoad = Duration.ofNanos(System.nanoTime() - start);
    return store;
  }

  /**
   * Takes {@code dir}'s lock file ({@code lock}, holding the holder's pid), waiting up to
   * {@code patience} for another daemon to let go of it.
   */
  private static FileChannel lock(Path dir, Duration patience, Progress progress) throws IOException, InterruptedException {
    Path file = dir.resolve("lock");
    FileChannel ch = FileChannel.open(file, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
        StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS), OWNER_ONLY_FILE);
    long deadline = System.nanoTime() + patience.toNanos();
    try {
      while (true) {
        if (ch.tryLock() != null) {
          byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
          ch.truncate(0);
          ch.write(ByteBuffer.wrap(pid), 0);
          return ch;
        }
        ByteBuffer b = ByteBuffer.allocate(32);
        ch.read(b, 0);
        String holder = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).strip();
        if (System.nanoTime() - deadline >= 0) {
          throw new IOException("state directory " + dir + " is in use by another cache daemon (pid " + holder
              + "): stop that one first (cachectl stop, with the JAVA_HOME it was started with), or set"
              + " CACHECTL_STATE_DIR to another directory");
        }
        progress.report(0, "waiting for the cache daemon pid " + holder + " to release " + dir);
        Thread.sleep(50);
      }
    } catch (IOException | InterruptedException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  private void load(Path indexFile, Duration entryDelay, Progress progress) throws IOException, InterruptedException {
    ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(index.size()));
    while (all.hasRemaining() && index.read(all, all.position()) >= 0) {
      // until the whole index is in
    }
    String text = new String(all.array(), StandardCharsets.US_ASCII);
    if (!text.startsWith(INDEX_HEADER)) {
      String first = text.lines().findFirst().orElse("");
      throw new IOException("index " + indexFile + " starts with '" + first + "', not '" + INDEX_HEADER.strip()
          + "': it is another format or damaged; move the state directory away (the cache starts empty)");
    }
    String[] lines = text.substring(INDEX_HEADER.length()).split("\n", -1);
    int entries = lines.length - 1; // the part after the last newline is empty, or a torn line
    long goodEnd = INDEX_HEADER.length();
    int reported = -1;
    for (int i = 0; i < entries; i++) {
      if (i * 100 / entries != reported) {
        reported = i * 100 / entries;
        progress.report(reported, "loading index: " + i + "/" + entries + " entries");
      }
      if (!entryDelay.isZero()) {
        Thread.sleep(entryDelay.toMillis()); // the demo's stand-in for a large index
      }
      goodEnd += lines[i].length() + 1;
      String[] f = lines[i].split(" ");
      if (f.length != 3 || !f[2].equals(crc(f[0] + " " + f[1])) || !CacheProtocol.isKey(f[0])
          || !f[1].matches("[0-9]{1,9}")) {
        System.err.println("cache: index " + indexFile + " line " + (i + 2) + " is damaged; skipped it");
        continue;
      }
      long size = Long.parseLong(f[1]);
      Path blob = blobs.resolve(f[0]);
      if (!Files.isRegularFile(blob, LinkOption.NOFOLLOW_LINKS)) {
        System.err.println("cache: index " + indexFile + " lists " + blob + ", which is gone; skipped it");
        continue;
      }
      if (sizes.put(f[0], size) == null) {
        bytes.addAndGet(size);
      }
    }
    String torn = lines[entries];
    if (!torn.isEmpty()) {
      System.err.println("cache: index " + indexFile + " ends in a torn line of " + torn.length()
          + " bytes (a crash during a put); cut it off");
      index.truncate(goodEnd);
      index.force(true);
    }
    progress.report(100, "index loaded: " + sizes.size() + " entries");
  }

  /** Stores {@code blob} under its SHA-256; returns when it is on disk and in the index. */
  Stored put(byte[] blob) throws IOException {
    String key = sha256(blob);
    Path file = blobs.resolve(key);
    if (!matches(file, key)) {
      writeAtomically(tmp, file, blob);
    }
    synchronized (this) {
      if (sizes.containsKey(key)) {
        return new Stored(key, false);
      }
      String line = key + " " + blob.length;
      ByteBuffer record = ByteBuffer.wrap((line + " " + crc(line) + "\n").getBytes(StandardCharsets.US_ASCII));
      long at = index.size();
      while (record.hasRemaining()) {
        at += index.write(record, at);
      }
      index.force(false);
      sizes.put(key, (long) blob.length);
      bytes.addAndGet(blob.length);
      return new Stored(key, true);
    }
  }

  /** The blob under {@code key}, checked against it; not found or damaged otherwise. */
  Response get(String key) throws IOException {
    if (!sizes.containsKey(key)) {
      misses.incrementAndGet();
      return new NotFound(key);
    }
    Path file = blobs.resolve(key);
    byte[] blob;
    try {
      blob = read(file);
    } catch (NoSuchFileException gone) {
      misses.incrementAndGet();
      return new Damaged("blob " + file + " is listed in the index but its file is gone: put the content again");
    }
    String actual = sha256(blob);
    if (!actual.equals(key)) {
      misses.incrementAndGet();
      return new Damaged("blob " + file + " no longer matches its key (its content hashes to " + actual
          + "): it was changed on disk; put the original content again to repair it, or delete the file");
    }
    hits.incrementAndGet();
    return new Found(blob);
  }

  Statistics statistics() {
    return new Statistics(sizes.size(), bytes.get(), hits.get(), misses.get(), indexLoad,
        uptime(), ProcessHandle.current().pid(), directory.toString());
  }

  private static Duration uptime() {
    Instant now = Instant.now();
    return Duration.between(ProcessHandle.current().info().startInstant().orElse(now), now);
  }

  @Override
  public void close() throws IOException {
    try {
      index.close();
    } finally {
      lock.close(); // lets the next daemon of this directory in
    }
  }

  private static boolean matches(Path file, String key) throws IOException {
    try {
      return sha256(read(file)).equals(key);
    } catch (NoSuchFileException missing) {
      return false;
    }
  }

  private static byte[] read(Path file) throws IOException {
    try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      long size = in.size();
      if (size > CacheProtocol.MAX_BLOB_BYTES) {
        throw new IOException("blob " + file + " is " + size + " bytes, more than a blob can be: move it away");
      }
      ByteBuffer b = ByteBuffer.allocate((int) size);
      while (b.hasRemaining() && in.read(b) >= 0) {
        // until the whole file is in
      }
      return b.array();
    }
  }

  /** Writes {@code content} to {@code target} through a forced temporary file in {@code tmpDir} and a rename. */
  private static void writeAtomically(Path tmpDir, Path target, byte[] content) throws IOException {
    Path temp = Files.createTempFile(tmpDir, target.getFileName().toString(), ".tmp", OWNER_ONLY_FILE);
    try {
      try (FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
        ByteBuffer b = ByteBuffer.wrap(content);
        while (b.hasRemaining()) {
          out.write(b);
        }
        out.force(true);
      }
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(temp);
    }
    try (FileChannel dir = FileChannel.open(target.getParent(), StandardOpenOption.READ)) {
      dir.force(true); // the rename itself is durable
    }
  }

  private static void removeLeftovers(Path tmpDir) throws IOException {
    try (DirectoryStream<Path> left = Files.newDirectoryStream(tmpDir)) {
      for (Path p : left) {
        Files.deleteIfExists(p); // a link is removed, never followed
      }
    }
  }

  static String sha256(byte[] content) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }

  private static String crc(String line) {
    CRC32 crc = new CRC32();
    crc.update(line.getBytes(StandardCharsets.US_ASCII));
    return String.format("%08x", crc.getValue());
  }
}
