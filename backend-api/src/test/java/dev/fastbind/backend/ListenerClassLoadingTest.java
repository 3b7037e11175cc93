package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.backend.testing.ListenerProbe;
import dev.fastbind.testsupport.Cleanup;
import dev.fastbind.testsupport.JavaCommand;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What serving on any stack costs the plain path: nothing. A fresh JVM that binds a socket file,
 * accepts and runs the peer check loads no junixsocket (and so not its native library) and no
 * Netty; only {@link IpcListener#duplicateDescriptor()} brings junixsocket in.
 */
class ListenerClassLoadingTest {

  @TempDir Path dir;

  @Test
  void bindAcceptAndThePeerCheckOnASocketFileLoadNoJunixsocketAndNoNetty() throws Exception {
    String loaded = probe(false);
    for (String forbidden : List.of("org.newsclub.", "io.netty.")) {
      assertFalse(loaded.contains(forbidden), "the plain path loaded " + forbidden + " classes");
    }
  }

  @Test
  void onlyTakingADescriptorLoadsJunixsocket() throws Exception {
    String loaded = probe(true);
    assertTrue(loaded.contains("org.newsclub.net.unix.FileDescriptorCast"), "the duplicate is junixsocket's");
  }

  private String probe(boolean dup) throws Exception {
    Path classes = dir.resolve("classes-" + dup + ".log");
    Path out = dir.resolve("out-" + dup + ".txt");
    List<String> args = new ArrayList<>(List.of(dir.resolve("probe-" + dup + ".sock").toString()));
    if (dup) {
      args.add("dup");
    }
    Process p = new ProcessBuilder(JavaCommand.of(ListenerProbe.class).light()
        .jvmOptions("-Xlog:class+load=info:file=" + classes).args(args.toArray(String[]::new)).build())
        .redirectErrorStream(true).redirectOutput(out.toFile()).start();
    try {
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the probe did not finish in 30 s");
      String output = Files.readString(out, StandardCharsets.UTF_8);
      assertEquals(0, p.exitValue(), output);
      assertTrue(output.contains("accepted"), output);
      System.out.println(output.strip());
    } finally {
      Cleanup.killTree(p);
    }
    String loaded = Files.readString(classes);
    assertTrue(loaded.contains("dev.fastbind.backend.internal.JdkUnixListener"), "the log lists loaded classes");
    return loaded;
  }
}
