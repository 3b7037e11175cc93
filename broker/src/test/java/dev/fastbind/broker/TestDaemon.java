package dev.fastbind.broker;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.internal.ControlHandler;
import dev.fastbind.backend.internal.ControlServer;
import dev.fastbind.backend.internal.DaemonState;
import dev.fastbind.backend.internal.HelloReply;
import dev.fastbind.backend.internal.LockfileRecord;
import dev.fastbind.backend.internal.Lockfiles;
import dev.fastbind.backend.internal.ProcessIdentity;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.URLEncoder;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A daemon for the broker's tests, well-behaved or deliberately broken, chosen by its first argument:
 *
 * <ul>
 *   <li>{@code good [version]}: binds, writes its lockfile, serves the control endpoint, announces
 *       READY, then answers each connection on the main endpoint with its pid
 *   <li>{@code hang}: never binds and never announces anything
 *   <li>{@code exit3}: prints a diagnostic to stderr and exits with status 3
 *   <li>{@code halt}: {@code Runtime.halt(7)} before binding
 *   <li>{@code abort}: kills itself with SIGABRT
 *   <li>{@code fail}: announces {@code FAILED} with a reason, then exits 1
 * </ul>
 *
 * Every instance halts on its own after {@code --lifetime=<seconds>} (default 60), so no test can
 * leave a daemon behind for long, and carries a {@code --marker=<dir>} argument by which tests find
 * their processes in the process table.
 */
public final class TestDaemon {
  private TestDaemon() {}

  public static void main(String[] args) throws Exception {
    long lifetime = 60;
    for (String a : args) {
      if (a.startsWith("--lifetime=")) {
        lifetime = Long.parseLong(a.substring("--lifetime=".length()));
      }
    }
    startWatchdog(lifetime);
    String mode = args.length > 0 ? args[0] : "good";
    long pid = ProcessHandle.current().pid();
    switch (mode) {
      case "hang" -> {
        System.err.println("test daemon " + pid + ": hanging before bind");
        Thread.sleep(Long.MAX_VALUE);
      }
      case "exit3" -> {
        System.err.println("test daemon " + pid + ": configuration file missing, giving up");
        System.exit(3);
      }
      case "halt" -> {
        System.err.println("test daemon " + pid + ": halting");
        Runtime.getRuntime().halt(7);
      }
      case "abort" -> {
        System.err.println("test daemon " + pid + ": aborting");
        Process kill = new ProcessBuilder("kill", "-ABRT", Long.toString(pid)).start();
        kill.waitFor();
        Thread.sleep(Long.MAX_VALUE);
      }
      case "fail" -> {
        notifyBroker("FAILED pid=" + pid + " reason="
            + URLEncoder.encode("endpoint busy: 100% taken", StandardCharsets.UTF_8).replace("+", "%20"));
        System.exit(1);
      }
      case "good" -> serve(args.length > 1 && !args[1].startsWith("--") ? args[1] : "1.0");
      default -> {
        System.err.println("unknown mode " + mode);
        System.exit(64);
      }
    }
  }

  private static void startWatchdog(long seconds) {
    Thread t = new Thread(() -> {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      while (System.nanoTime() < deadline) {
        try {
          Thread.sleep(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        } catch (InterruptedException e) {
          return;
        }
      }
      Runtime.getRuntime().halt(99);
    }, "test-daemon-lifetime");
    t.setDaemon(true);
    t.start();
  }

  private static void serve(String version) throws Exception {
    long pid = ProcessHandle.current().pid();
    String service = System.getenv("FASTBIND_SERVICE");
    Endpoint endpoint = Endpoint.parse(System.getenv("FASTBIND_ENDPOINT"));
    Endpoint control = Endpoint.parse(System.getenv("FASTBIND_CONTROL_ENDPOINT"));
    Path lockfile = Path.of(System.getenv("FASTBIND_LOCKFILE"));
    String instance = LockfileRecord.newInstanceId();
    IpcListener main = IpcListener.bind(endpoint);
    ControlServer controlServer = ControlServer.start(IpcListener.bind(control), new ControlHandler() {
      @Override
      public HelloReply hello() {
        return new HelloReply(service, version, pid, instance, DaemonState.READY, 100, Optional.empty());
      }

      @Override
      public void shutdown() {
        Lockfiles.deleteIfOwnedBy(lockfile, instance);
        System.exit(0);
      }
    });
    Lockfiles.write(lockfile, new LockfileRecord(service, pid, ProcessIdentity.startTime(pid).orElseThrow(),
        ProcessIdentity.bootId(), endpoint, control, version, instance));
    Runtime.getRuntime().addShutdownHook(new Thread(() -> Lockfiles.deleteIfOwnedBy(lockfile, instance)));
    notifyBroker("READY pid=" + pid + " instance=" + instance);
    System.err.println("test daemon " + pid + ": ready, version " + version);
    while (controlServer.endpoint() != null) {
      try (SocketChannel c = main.accept()) {
        c.write(ByteBuffer.wrap((pid + "\n").getBytes(StandardCharsets.US_ASCII)));
      }
    }
  }

  private static void notifyBroker(String line) throws IOException {
    String socket = System.getenv("FASTBIND_NOTIFY_SOCKET");
    if (socket == null) {
      return;
    }
    try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      c.connect(UnixDomainSocketAddress.of(socket));
      c.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8)));
    }
  }
}
