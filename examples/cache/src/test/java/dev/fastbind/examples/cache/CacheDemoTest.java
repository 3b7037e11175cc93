package dev.fastbind.examples.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.testsupport.Cleanup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's demo command, run as a newcomer runs it: a JVM that drives the cachectl script. */
class CacheDemoTest {

  @TempDir Path tmp;

  @Test
  void theDemoRunsColdThenHotAndLeavesNothingRunningOrOnDisk() throws Exception {
    Process demo = Cachectl.demo(tmp).start();
    try {
      assertTrue(demo.waitFor(120, TimeUnit.SECONDS), "the demo did not finish within 120 s");
      String out = new String(demo.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(0, demo.exitValue(), out);
      List<String> steps = out.lines().filter(l -> l.startsWith("$ cachectl ")).toList();
      assertEquals(13, steps.size(), out);
      assertTrue(steps.get(1).contains("cold: starts the daemon"), out);
      assertTrue(out.contains("is warming up: "), "the fresh daemon's index load showed no progress: " + out);
      Matcher m = Pattern.compile("nothing left running: daemons \\[(\\d+), (\\d+)\\] have exited").matcher(out);
      assertTrue(m.find(), out);
      for (String pid : List.of(m.group(1), m.group(2))) {
        assertFalse(CacheDemo.running(Long.parseLong(pid)), "pid " + pid + " runs");
      }
      try (var left = Files.list(tmp)) {
        assertEquals(List.of(), left.toList(), "the demo left its directory behind");
      }
    } finally {
      Cleanup.killTree(demo);
    }
  }
}
