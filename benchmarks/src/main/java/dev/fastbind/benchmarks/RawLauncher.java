package dev.fastbind.benchmarks;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The floor of {@link ClientLauncher}: a bare JVM that connects to the same daemon's endpoint
 * ({@code args[0]}, the socket path) with a raw JDK channel and makes the same exchange by hand (the
 * request loop's frame: 4-byte length, kind, payload; the echoed frame back), prints the answer's
 * length and exits. Written as {@link ClientLauncher} is, except for the SDK calls; it loads no SDK
 * class.
 */
public final class RawLauncher {

  private static final byte REQUEST = 0x01;
  private static final byte RESPONSE = 0x02;

  private RawLauncher() {}

  /** One exchange, then prints the answer's length. */
  public static void main(String[] args) throws IOException {
    byte[] payload = new byte[ClientLauncher.PAYLOAD_BYTES];
    Arrays.fill(payload, (byte) 'p');
    byte[] answer;
    try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      c.connect(UnixDomainSocketAddress.of(Path.of(args[0])));
      answer = exchange(c, payload);
    }
    System.out.println(answer.length);
  }

  private static byte[] exchange(SocketChannel c, byte[] payload) throws IOException {
    ByteBuffer request = ByteBuffer.allocate(5 + payload.length);
    request.putInt(payload.length).put(REQUEST).put(payload).flip();
    while (request.hasRemaining()) {
      c.write(request);
    }
    ByteBuffer header = ByteBuffer.allocate(5);
    readFully(c, header);
    if (header.get(4) != RESPONSE) {
      throw new IOException("the daemon did not answer with a response frame");
    }
    ByteBuffer body = ByteBuffer.allocate(header.getInt(0));
    readFully(c, body);
    return body.array();
  }

  private static void readFully(SocketChannel c, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (c.read(b) < 0) {
        throw new IOException("the daemon closed the connection before its answer");
      }
    }
  }
}
