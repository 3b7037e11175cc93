package dev.fastbind.backend.internal.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CompatibilityTest {

  @Test
  void theCanonicalTextIsSortedEscapedAndRoundTrips() {
    Map<String, String> entries = new LinkedHashMap<>();
    entries.put("jvm.options", "-Xmx64m -Da=b;c=d");
    entries.put("index-format", "7");
    String text = Compatibility.canonical(entries);
    assertEquals("index-format=7;jvm.options=-Xmx64m -Da%3Db%3Bc%3Dd", text);
    assertEquals(Map.of("index-format", "7", "jvm.options", "-Xmx64m -Da=b;c=d"), Compatibility.entries(text));
    assertEquals(text, Compatibility.canonical(Compatibility.entries(text)), "order does not matter");
  }

  @Test
  void theDiffNamesEachDifferenceWithBothSides() {
    String running = Compatibility.canonical(Map.of("java.home", "/usr/lib/jvm/17", "jvm.options", "-Xmx512m"));
    String wanted = Compatibility.canonical(Map.of("java.home", "/usr/lib/jvm/25", "jvm.options", "-Xmx64m",
        "index-format", "8"));
    assertEquals("index-format (none) \u2192 8; java.home /usr/lib/jvm/17 \u2192 /usr/lib/jvm/25; jvm.options -Xmx512m"
        + " \u2192 -Xmx64m", Compatibility.diff(running, wanted));
    assertEquals("", Compatibility.diff(running, running));
  }

  @Test
  void longValuesAreRecordedAsTheirHashAndIdsTellKeysApart() {
    String longPath = "/a/very/long/class/path.jar:".repeat(40);
    String text = Compatibility.canonical(Map.of("class.path", longPath));
    assertTrue(text.startsWith("class.path=hash:") && text.endsWith("/" + longPath.length() + "-chars"), text);
    assertNotEquals(text, Compatibility.canonical(Map.of("class.path", longPath + "x")));
    assertEquals(16, Compatibility.id(text).length());
    assertNotEquals(Compatibility.id("a=1"), Compatibility.id("a=2"));
    assertThrows(IllegalArgumentException.class, () -> Compatibility.canonical(Map.of("Bad", "1")));
  }
}
