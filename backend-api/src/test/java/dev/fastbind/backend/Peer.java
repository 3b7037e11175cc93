package dev.fastbind.backend;

import dev.fastbind.testsupport.Capability;
import dev.fastbind.testsupport.Cleanup;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/** Clients for serving tests: this user's, with a deadline on every exchange, and another user's. */
final class Peer {
  private Peer() {}

  static final Duration EXCHANGE = Duration.ofSeconds(10);

  /** A connection to {@code e}, a JDK channel for a path and junixsocket's for an abstract name. */
  static SocketChannel connect(Endpoint e) throws IOException {
    if (e.kind() == Endpoint.Kind.ABSTRACT) {
      return AFUNIXSocket.connectTo(AFUNIXSocketAddress.inAbstractNamespace(e.abstractName().orElseThrow()))
          .getChannel();
    }
    return SocketChannel.open(UnixDomainSocketAddress.of(e.path().orElseThrow()));
  }

  /**
   * Sends {@code text} on a fresh connection and returns what comes back until the server closes or
   * the answer is as long as {@code transport:text} would be; fails after {@link #EXCHANGE}.
   */
  static String exchange(Endpoint e, String text) throws IOException {
    try (SocketChannel client = connect(e)) {
      client.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII)));
      return readAnswer(client, text.length());
    }
  }

  /** Reads until end of stream or until the bytes after the first ':' number {@code length}. */
  static String readAnswer(SocketChannel client, int length) throws IOException {
    long deadline = System.nanoTime() + EXCHANGE.toNanos();
    client.configureBlocking(false);
    StringBuilder answer = new StringBuilder();
    ByteBuffer b = ByteBuffer.allocate(256);
    try (Selector selector = client.provider().openSelector()) {
      client.register(selector, SelectionKey.OP_READ);
      while (true) {
        int colon = answer.indexOf(":");
        if (colon >= 0 && answer.length() - colon - 1 >= length) {
          return answer.toString();
        }
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (left <= 0) {
          throw new AssertionError("no full answer within " + EXCHANGE + "; got '" + answer + "'");
        }
        selector.select(left);
        selector.selectedKeys().clear();
        b.clear();
        int n = client.read(b);
        if (n < 0) {
          return answer.toString();
        }
        answer.append(new String(b.array(), 0, n, StandardCharsets.US_ASCII));
      }
    }
  }

  /**
   * Connects to {@code address} as user nobody (python3 under runuser), sends {@code payload}, reads
   * until end of stream and returns python's report: "received b'...'" with what came back.
   * {@code address} is a path, or {@code \0name} for an abstract name.
   */
  static String asNobody(String address, String payload) throws Exception {
    String script = "import socket\n"
        + "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        + "s.settimeout(10)\n"
        + "s.connect('" + address + "')\n"
        + "data = b''\n"
        + "try:\n"
        + "    s.sendall(b'" + payload + "')\n"
        + "    while True:\n"
        + "        d = s.recv(256)\n"
        + "        if not d:\n"
        + "            break\n"
        + "        data += d\n"
        + "except OSError as e:\n"
        + "    print('error', e)\n"
        + "print('received', repr(data))\n";
    Process nobody = new ProcessBuilder(Capability.RUNUSER.executable().toString(), "-u", "nobody", "--",
        Capability.PYTHON3.executable().toString(), "-c", script)
        .redirectErrorStream(true).start();
    try {
      if (!nobody.waitFor(20, TimeUnit.SECONDS)) {
        throw new AssertionError("the client running as nobody did not finish in 20 s");
      }
      return new String(nobody.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    } finally {
      Cleanup.killTree(nobody);
    }
  }
}
