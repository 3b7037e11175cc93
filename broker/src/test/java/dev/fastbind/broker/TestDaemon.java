package dev.fastbind.broker;

import dev.fastbind.backend.internal.wire.Env;
import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.internal.wire.Readiness;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import dev.fastbind.testsupport.Lifetime;
import java.util.concurrent.TimeUnit;

/**
 * A daemon for the broker's tests, well-behaved or deliberately broken, chosen by its first argument:
 *
 * <ul>
 *   <li>{@code good [version]}: a real daemon through the SDK's {@link Daemon} bootstrap (bind,
 *       lockfile, control endpoint, READY); answers each connection with its pid
 *   <li>{@code hang}: never binds and never announces anything
 *   <li>{@code exit3}: prints a diagnostic to stderr and exits with status 3
 *   <li>{@code halt}: {@code Runtime.halt(7)} before binding
 *   <li>{@code abort}: kills itself with SIGABRT
 *   <li>{@code fail}: announces {@code FAILED} with a reason, then exits 1
 *   <li>{@code hold}: like {@code good}, but each connection first sends a line: {@code hold} makes
 *       the daemon log {@code holding} and wait for a second line before it answers; its shutdown
 *       action logs {@code draining} and waits (at most 10 s) until no held request is left
 *   <li>{@code cmd}: like {@code good}, but reads one line from each connection and acts on it:
 *       {@code request} calls {@code requestShutdown("the test asked")}, {@code throw} makes
 *       {@code serve} throw, {@code return} makes it return, {@code chat <MiB>} writes that much
 *       output to stdout (in 256 KiB writes, 10 ms apart) and answers {@code done}, {@code child} starts
 *       {@code sleep 30} with {@link ProcessBuilder}'s default redirects and answers its pid (the
 *       test kills it); anything else (or nothing:
 *       the broker's probe) gets the pid. With {@code --idle-ms=N} the daemon has that idle timeout.
 * </ul>
 *
 * With {@code --gate=<file>} the daemon waits, before anything else, until that file exists: a test
 * holds a spawned daemon before its bootstrap has run.
 *
 * Every instance halts on its own after {@code --lifetime=<seconds>} (default 60), so no test can
 * leave a daemon behind for long, and carries a {@code --marker=<dir>} argument by which tests find
 * their processes in the process table.
 */
public final class TestDaemon {
  private TestDaemon() {}

  public static void main(String[] args) throws Exception {
    Lifetime.haltAfter(args, 60);
    for (String a : args) {
      if (a.startsWith("--gate=")) {
        Path gate = Path.of(a.substring("--gate=".length()));
        while (!java.nio.file.Files.exists(gate)) {
          java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
        }
      }
    }
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
        Readiness.send(Path.of(System.getenv(Env.NOTIFY_SOCKET)),
            Readiness.Message.failed(pid, "endpoint busy: 100% taken"));
        System.exit(1);
      }
      case "good" -> serve(args.length > 1 && !args[1].startsWith("--") ? args[1] : "1.0");
      case "cmd" -> {
        Daemon.Builder b = Daemon.builder(System.getenv("FASTBIND_SERVICE"), new CommandBackend()).version("1.0");
        for (String a : args) {
          if (a.startsWith("--idle-ms=")) {
            b.idleTimeout(java.time.Duration.ofMillis(Long.parseLong(a.substring("--idle-ms=".length()))));
          }
        }
        b.run();
      }
      case "hold" -> Daemon.builder(System.getenv("FASTBIND_SERVICE"), new HoldingBackend()).version("1.0").run();
      default -> {
        System.err.println("unknown mode " + mode);
        System.exit(64);
      }
    }
  }

  private static void serve(String version) {
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), new PidBackend()).version(version).run();
  }

  /** Answers each connection with the daemon's pid and a newline; a peer that left early is skipped. */
  static final class PidBackend implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws IOException {
      context.ready();
      byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
      while (true) {
        try (SocketChannel c = listener.accept()) {
          c.write(ByteBuffer.wrap(pid));
        } catch (IOException probeWentAway) {
          if (!listener.isOpen()) {
            throw probeWentAway; // stopping or handed over: nothing more to accept
          }
          System.err.println("test daemon: connection ended early: " + probeWentAway.getMessage());
        }
      }
    }
  }

  /** See {@code cmd} in the class doc. */
  static final class CommandBackend implements BrokeredBackend {
    @Override
    public Never serve(IpcListener listener, ServeContext context) throws IOException {
      System.err.println("test daemon " + ProcessHandle.current().pid() + ": serving commands");
      context.ready();
      byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
      while (true) {
        try (SocketChannel c = listener.accept()) {
          java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(
              java.nio.channels.Channels.newInputStream(c), StandardCharsets.US_ASCII));
          String line = in.readLine();
          if ("request".equals(line)) {
            context.requestShutdown("the test asked");
          } else if ("throw".equals(line)) {
            throw new IllegalStateException("the test made serve throw");
          } else if ("return".equals(line)) {
            return null;
          } else if ("child".equals(line)) {
            Process child = new ProcessBuilder("sleep", "30").start();
            c.write(ByteBuffer.wrap((child.pid() + "\n").getBytes(StandardCharsets.US_ASCII)));
            continue;
          } else if (line != null && line.startsWith("chat ")) {
            chat(Integer.parseInt(line.substring(5).trim()));
            c.write(ByteBuffer.wrap("done\n".getBytes(StandardCharsets.US_ASCII)));
            continue;
          }
          c.write(ByteBuffer.wrap(pid));
        } catch (IOException probeWentAway) {
          if (!listener.isOpen()) {
            throw probeWentAway;
          }
        }
      }
    }

    /** {@code mib} MiB of numbered lines to stdout, in 256 KiB writes, as fast as the file takes them. */
    private static void chat(int mib) {
      byte[] chunk = new byte[256 * 1024];
      java.util.Arrays.fill(chunk, (byte) 'x');
      for (int i = 0; i < chunk.length; i += 64) {
        chunk[i + 63] = '\n';
      }
      for (int i = 0; i < mib * 4; i++) {
        System.out.write(chunk, 0, chunk.length);
        System.out.flush();
        // A steady writer rather than one burst (a real daemon's log rate): about 25 MiB/s at most.
        java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
      }
      System.out.println("chat done");
    }
  }

  /** See {@code hold} in the class doc. */
  static final class HoldingBackend implements BrokeredBackend {
    private final java.util.concurrent.atomic.AtomicInteger held = new java.util.concurrent.atomic.AtomicInteger();

    @Override
    public Never serve(IpcListener listener, ServeContext context) throws IOException {
      context.onShutdown(() -> {
        System.err.println("test daemon: draining " + held.get());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        synchronized (held) {
          while (held.get() > 0 && System.nanoTime() < deadline) {
            try {
              held.wait(50);
            } catch (InterruptedException e) {
              return;
            }
          }
        }
      });
      context.ready();
      byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
      while (true) {
        SocketChannel c = listener.accept();
        Thread t = new Thread(() -> answer(c, pid), "held-request");
        t.start();
      }
    }

    private void answer(SocketChannel c, byte[] pid) {
      try (c) {
        java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(
            java.nio.channels.Channels.newInputStream(c), StandardCharsets.US_ASCII));
        String first = in.readLine();
        if ("hold".equals(first)) {
          held.incrementAndGet();
          System.err.println("test daemon: holding");
          try {
            in.readLine();
          } finally {
            c.write(ByteBuffer.wrap(pid));
            synchronized (held) {
              held.decrementAndGet();
              held.notifyAll();
            }
          }
        } else {
          c.write(ByteBuffer.wrap(pid));
        }
      } catch (IOException e) {
        System.err.println("test daemon: held connection failed: " + e.getMessage());
      }
    }
  }
}
