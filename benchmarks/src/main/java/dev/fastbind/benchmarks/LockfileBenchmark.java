package dev.fastbind.benchmarks;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Lockfile write and read, as the daemon bootstrap and the broker's hot path do them.
 *
 * <p>{@link #write} is the full atomic write (temp file created owner-only, written, forced to disk,
 * renamed, directory forced): on tmpfs the forces are nearly free, on a disk filesystem they dominate.
 * {@link #read} is the hot path's read: a no-follow stat, a bounded read and the decode.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class LockfileBenchmark {

  private Path dir;
  private Path lockfile;
  private LockfileRecord record;

  /** Writes one lockfile for {@link #read} and keeps its record for {@link #write}. */
  @Setup(Level.Trial)
  public void setUp() throws IOException {
    dir = SocketDirectory.create("fb-lock");
    lockfile = dir.resolve("s.lock");
    long pid = ProcessIdentity.currentPid();
    record = new LockfileRecord("bench", pid, ProcessIdentity.startTime(pid).orElse("0"),
        ProcessIdentity.bootId(), Endpoint.unixPath(dir.resolve("s.sock")),
        Endpoint.unixPath(dir.resolve("s.ctl")), "1.0", LockfileRecord.newInstanceId());
    Lockfiles.write(lockfile, record);
  }

  /** Removes the directory. */
  @TearDown(Level.Trial)
  public void tearDown() {
    SocketDirectory.deleteTree(dir);
  }

  /** The atomic, durable write. */
  @Benchmark
  public Path write() throws IOException {
    Lockfiles.write(lockfile, record);
    return lockfile;
  }

  /** The hot path's read and decode. */
  @Benchmark
  public Optional<LockfileRecord> read() throws IOException {
    return Lockfiles.read(lockfile);
  }
}
