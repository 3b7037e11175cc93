package dev.fastbind.backend.internal.wire;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A compatibility key's canonical text: what a launcher requires of a running daemon (Java home,
 * JVM options, class path, keys the author adds), as {@code name=value} entries sorted by name and
 * joined by {@code ;}, values escaped with {@code ;} and {@code =} reserved; a value longer than
 * {@value #MAX_VALUE_CHARS} characters (a class path) is recorded as its hash. The broker hands it to
 * the daemon in {@link Env#COMPATIBILITY}; the daemon records it in its lockfile and answers it in
 * {@code HELLO}, so any launcher can compare it with its own and say what differs. Pure and
 * thread-safe.
 */
public final class Compatibility {
  private Compatibility() {}

  /** Values longer than this many characters are recorded as their hash ({@code hash:<id>/<n>-chars}). */
  public static final int MAX_VALUE_CHARS = 256;

  /** The longest canonical text accepted (the lockfile's own limit is 64 KiB). */
  public static final int MAX_CHARS = 16 * 1024;

  /**
   * The canonical text of {@code entries}.
   *
   * @throws IllegalArgumentException if a name is not {@code [a-z0-9][a-z0-9._-]*} or the text would
   *     pass {@value #MAX_CHARS} characters
   */
  public static String canonical(Map<String, String> entries) {
    StringBuilder b = new StringBuilder(256);
    for (Map.Entry<String, String> e : new TreeMap<>(entries).entrySet()) {
      checkName(e.getKey());
      if (b.length() > 0) {
        b.append(';');
      }
      String v = e.getValue();
      if (v.length() > MAX_VALUE_CHARS) {
        // A class path runs to kilobytes: its hash keeps the lockfile, and the hot path that reads
        // it on every call, small. The diff then shows the hashes; that it differs is what matters.
        v = "hash:" + id(v) + "/" + v.length() + "-chars";
      }
      b.append(e.getKey()).append('=').append(Escaping.escape(v, ";="));
    }
    if (b.length() > MAX_CHARS) {
      throw new IllegalArgumentException("the compatibility key is " + b.length() + " characters; at most "
          + MAX_CHARS + " are allowed: hash large values (a config file's contents) before adding them");
    }
    return b.toString();
  }

  /** The entries of canonical {@code text}, in order; unreadable parts are skipped. */
  public static Map<String, String> entries(String text) {
    Map<String, String> out = new LinkedHashMap<>();
    if (text.isEmpty()) {
      return out;
    }
    for (String part : text.split(";", -1)) {
      int eq = part.indexOf('=');
      if (eq <= 0) {
        continue;
      }
      String value = Escaping.unescapeOrNull(part, eq + 1, part.length());
      if (value != null) {
        out.put(part.substring(0, eq), value);
      }
    }
    return Collections.unmodifiableMap(out);
  }

  /**
   * A short id of canonical {@code text}: 16 hex digits of its 64-bit FNV-1a hash over UTF-8 (no
   * message digest: a launcher's first call must not initialise the JDK's security providers). Used
   * in file names of side-by-side daemons; equality is always decided on the full text.
   */
  public static String id(String text) {
    long h = 0xcbf29ce484222325L;
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    String hex = Long.toHexString(h);
    return "0".repeat(16 - hex.length()) + hex;
  }

  /**
   * What differs from {@code running} to {@code wanted}, one line: {@code "java.home /a → /b;
   * jvm.options -Xmx512m → -Xmx64m"}; a side that lacks an entry shows {@code (none)}. Empty when equal.
   */
  public static String diff(String running, String wanted) {
    Map<String, String> a = entries(running);
    Map<String, String> b = entries(wanted);
    TreeMap<String, Boolean> names = new TreeMap<>();
    a.keySet().forEach(k -> names.put(k, true));
    b.keySet().forEach(k -> names.put(k, true));
    List<String> parts = new ArrayList<>();
    for (String name : names.keySet()) {
      String x = a.get(name);
      String y = b.get(name);
      if (x == null || !x.equals(y)) {
        parts.add(name + " " + shown(x) + " \u2192 " + shown(y));
      }
    }
    return String.join("; ", parts);
  }

  private static String shown(String v) {
    if (v == null) {
      return "(none)";
    }
    String p = Escaping.printable(v);
    return p.isEmpty() ? "''" : p;
  }

  private static void checkName(String name) {
    boolean ok = !name.isEmpty() && (Character.isLowerCase(name.charAt(0)) || Character.isDigit(name.charAt(0)));
    for (int i = 0; ok && i < name.length(); i++) {
      char c = name.charAt(i);
      ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-';
    }
    if (!ok) {
      throw new IllegalArgumentException("invalid compatibility key name '" + Escaping.printable(name)
          + "': use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit");
    }
  }
}
