package dev.fastbind.broker;

import dev.fastbind.backend.BrokeredBackend;
import dev.fastbind.backend.Daemon;
import dev.fastbind.backend.IpcListener;
import dev.fastbind.backend.Never;
import dev.fastbind.backend.ServeContext;
import dev.fastbind.backend.loop.Codec;
import dev.fastbind.backend.loop.Handler;
import dev.fastbind.backend.loop.RequestLoop;
import dev.fastbind.backend.loop.WarmupPolicy;
import dev.fastbind.testsupport.Lifetime;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A daemon served by the request loop, for {@code DaemonClientTest}. Arguments (after the SDK's):
 * {@code --max-concurrency=N}, {@code --max-payload=N}, {@code --warmup=wait|answer},
 * {@code --warm-gate=PATH} (warm-up connects there, reports 50% "waiting for the test" and waits for
 * a byte or the end of stream before handing over the handler), {@code --grace-ms=N},
 * {@code --lifetime=SECONDS} (halts itself then), {@code --after-ready=throw|return} (serve calls
 * {@code ready()} and at once throws or returns, a daemon that dies right after its start) and
 * {@code --marker=DIR}.
 *
 * <p>Requests (UTF-8): {@code echo TEXT} answers TEXT; {@code pid} answers the daemon's pid;
 * {@code fail} throws; {@code halt N} halts the JVM with status N during the call; {@code child}
 * starts {@code sleep 60} and answers its pid; {@code shutdown} asks for the daemon's own shutdown;
 * {@code hold PATH} connects to the test's gate socket at PATH, writes
 * {@code entered PID\n} and waits (interruptibly) for a byte or the end of stream, then answers
 * {@code released}.
 */
public final class LoopTestDaemon implements BrokeredBackend {

  public static void main(String[] args) {
    Lifetime.haltAfter(args, 60);
    Daemon.builder(System.getenv("FASTBIND_SERVICE"), new LoopTestDaemon()).version("1.0").run(args);
  }

  private static String option(ServeContext context, String name, String otherwise) {
    for (String a : context.arguments()) {
      if (a.startsWith("--" + name + "=")) {
        return a.substring(name.length() + 3);
      }
    }
    return otherwise;
  }

  @Override
  public Never serve(IpcListener listener, ServeContext context) throws Exception {
    String after = option(context, "after-ready", "");
    if (after.equals("throw")) {
      context.ready();
      throw new IllegalStateException("the index is corrupt (deliberate test failure)");
    } else if (after.equals("return")) {
      context.ready();
      return null;
    }
    RequestLoop loop = RequestLoop.builder()
        .maxConcurrency(Integer.parseInt(option(context, "max-concurrency", "16")))
        .maxPayloadBytes(Integer.parseInt(option(context, "max-payload", String.valueOf(16 << 20))))
        .warmup(option(context, "warmup", "wait").equals("answer") ? WarmupPolicy.ANSWER_WARMING : WarmupPolicy.WAIT)
        .drainGrace(Duration.ofMillis(Long.parseLong(option(context, "grace-ms", "3000"))))
        .start(listener, context);
    String gate = option(context, "warm-gate", "");
    if (!gate.isEmpty()) {
      context.progress(50, "waiting for the test");
      waitAtGate(Path.of(gate), "warming");
    }
    return loop.serve(Handler.of(Codec.utf8(), Codec.utf8(), (request, ctx) -> answer(request, context)));
  }

  private static String answer(String request, ServeContext context) throws IOException {
    if (request.startsWith("halt ")) {
      Runtime.getRuntime().halt(Integer.parseInt(request.substring(5))); // a crash mid-call
    } else if (request.equals("child")) {
      // A process of the daemon's own, with a bounded life: the owner watch must end it with the daemon.
      Process child = new ProcessBuilder("sleep", "60").redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      return Long.toString(child.pid());
    } else if (request.equals("shutdown")) {
      context.requestShutdown("the test asked");
      return "stopping";
    }
    if (request.startsWith("echo ")) {
      return request.substring(5);
    } else if (request.equals("pid")) {
      return Long.toString(ProcessHandle.current().pid());
    } else if (request.equals("fail")) {
      throw new IllegalStateException("the test asked for a failure");
    } else if (request.startsWith("hold ")) {
      waitAtGate(Path.of(request.substring(5)), "entered");
      return "released";
    }
    throw new IllegalArgumentException("unknown request '" + request + "'");
  }

  /** Tells the test's gate {@code word PID}, then waits for a byte or the end of stream; interruptible. */
  private static void waitAtGate(Path gate, String word) throws IOException {
    try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      c.connect(UnixDomainSocketAddress.of(gate));
      c.write(ByteBuffer.wrap((word + " " + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)));
      c.read(ByteBuffer.allocate(1));
    } catch (java.nio.channels.ClosedByInterruptException interrupted) {
      throw interrupted; // the loop cancelled the request: end it
    } catch (IOException closedEarly) {
      // the test closed its end before reading our line (a reset, or a broken pipe): that lets us go on, too
    }
  }
}
