package dev.fastbind.backend.testing;

import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.internal.wire.Readiness;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import dev.fastbind.testsupport.Signals;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A real daemon JVM started for a test, with a notify socket bound the way the broker binds one, its
 * output in a log file, and a bounded lifetime: {@link #close()} kills it if it is still running.
 */
public final class DaemonProcess implements AutoCloseable {
  private final Process process;
  private final Path log;
  private final ServerSocketChannel notify;
  private final Path notifyPath;

  private DaemonProcess(Process process, Path log, ServerSocketChannel notify, Path notifyPath) {
    this.process = process;
    this.log = log;
    this.notify = notify;
    this.notifyPath = notifyPath;
  }

  /** Starts the daemon with {@code FASTBIND_RUNTIME_DIR=runtimeDir}, a notify socket and extra env. */
  public static DaemonProcess start(Path runtimeDir, Map<String, String> env, List<String> command,
      ProcessBuilder.Redirect stdin) throws IOException {
    Path scratch = Files.createTempDirectory("fastbind-test-");
    Path notifyPath = scratch.resolve("notify");
    ServerSocketChannel notify = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    notify.bind(UnixDomainSocketAddress.of(notifyPath));
    notify.configureBlocking(false);
    Path log = scratch.resolve("daemon.log");
    ProcessBuilder pb = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .redirectInput(stdin);
    Map<String, String> environment = pb.environment();
    environment.keySet().removeIf(k -> k.startsWith("FASTBIND_") || k.startsWith("LISTEN_"));
    environment.put("FASTBIND_RUNTIME_DIR", runtimeDir.toString());
    environment.put(Env.NOTIFY_SOCKET, notifyPath.toString());
    environment.putAll(env);
    return new DaemonProcess(pb.start(), log, notify, notifyPath);
  }

  /** Starts {@link EchoDaemon} with the given daemon arguments. */
  public static DaemonProcess startEcho(Path runtimeDir, Map<String, String> env, String... args) throws IOException {
    return start(runtimeDir, env, JavaCommand.of(EchoDaemon.class).light().args(args).build(),
        ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
  }

  public Process process() {
    return process;
  }

  /** Waits for the daemon's READY or FAILED line on the notify socket, or fails at the deadline. */
  public Readiness.Message awaitNotification(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (Selector selector = Selector.open()) {
      notify.register(selector, SelectionKey.OP_ACCEPT);
      while (true) {
        long remaining = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (remaining <= 0) {
          throw new AssertionError("no readiness notification within " + timeout + "; daemon log:\n" + log());
        }
        selector.select(remaining);
        SocketChannel c = notify.accept();
        if (c == null) {
          continue;
        }
        try (c) {
          c.configureBlocking(true);
          ByteBuffer b = ByteBuffer.allocate(Readiness.MAX_LINE_BYTES);
          while (c.read(b) > 0) {
            // read to end of stream
          }
          return Readiness.Message.parse(new String(b.array(), 0, b.position(), StandardCharsets.UTF_8));
        }
      }
    }
  }

  /** Waits for the process to exit and returns its status; fails at the deadline. */
  public int awaitExit(Duration timeout) throws InterruptedException, IOException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("daemon still running after " + timeout + "; log:\n" + log());
    }
    return process.exitValue();
  }

  /** Everything the daemon printed so far. */
  public String log() throws IOException {
    return Files.exists(log) ? Files.readString(log) : "";
  }

  public long pid() {
    return process.pid();
  }

  /** Sends {@code signal} (e.g. "CONT", "TERM") to the daemon; {@link Signals#stop} waits for a stop. */
  public void signal(String signal) {
    Signals.send(signal, process.pid());
  }

  @Override
  public void close() throws IOException {
    Cleanup.killTree(process);
    notify.close();
    Files.deleteIfExists(notifyPath);
    Files.deleteIfExists(log);
    Files.deleteIfExists(notifyPath.getParent());
  }
}
