package dev.fastbind.backend.testing;

import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.IpcListener;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * A fresh JVM that walks a daemon's plain path on a bound socket file: bind, a client's connect,
 * {@code accept}, {@code admit} and {@code channel}; with the argument {@code dup} it then also takes
 * two descriptors and prints how long each took ({@code first-dup-us=N second-dup-us=N}). Run with a
 * class-loading log, it shows which libraries each step loads.
 *
 * <p>Arguments: the socket path, then optionally {@code dup}.
 */
public final class ListenerProbe {
  private ListenerProbe() {}

  public static void main(String[] args) throws Exception {
    Path path = Path.of(args[0]);
    try (IpcListener listener = IpcListener.bind(Endpoint.unixPath(path));
        SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path));
        SocketChannel accepted = listener.accept()) {
      if (!listener.admit(accepted) || listener.channel() == null) {
        throw new AssertionError("this user's own connection was refused");
      }
      System.out.println("accepted");
      if (args.length > 1 && args[1].equals("dup")) {
        long t0 = System.nanoTime();
        int first = listener.duplicateDescriptor();
        long t1 = System.nanoTime();
        int second = listener.duplicateDescriptor();
        long t2 = System.nanoTime();
        System.out.println("descriptors " + first + " " + second + " first-dup-us=" + (t1 - t0) / 1000
            + " second-dup-us=" + (t2 - t1) / 1000);
      }
    }
  }
}
