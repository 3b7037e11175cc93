package dev.fastbind.backend.internal.wire;

import dev.fastbind.backend.BindException;
import dev.fastbind.backend.Endpoint;
import dev.fastbind.backend.internal.wire.LockfileException.Reason;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.zip.CRC32;

/**
 * The lockfile format, as a pure codec (bytes to record and back, no I/O): the daemon side writes
 * it and the broker reads it through {@code Lockfiles}, the atomic file I/O, so the format has exactly
 * one definition. Documented for other readers in {@code docs/wire.md}.
 *
 * <p>The format is UTF-8 text a person can read with {@code cat}:
 *
 * <pre>
 * fastbind-lockfile 1
 * service=cache
 * pid=4242
 * process-start-time=ticks:123456
 * boot-id=0b7c…
 * endpoint=unix:/run/user/1000/fastbind/cache.sock
 * control-endpoint=unix:/run/user/1000/fastbind/cache.ctl
 * daemon-version=1.4.0
 * instance-id=9f0c…
 * compatibility=java.home=/usr/lib/jvm/17;jvm.options=-Xmx512m
 * written-at=2025-01-01T12:00:00Z
 * crc32=1a2b3c4d
 * </pre>
 *
 * <p>The first line carries the format version; a higher version is reported as
 * {@link Reason#FUTURE_VERSION} and never parsed. Values are escaped so every string round-trips:
 * {@code %}, control characters and other invisible characters become {@code %XX} (code units below
 * 0x100) or {@code %uXXXX}; everything else, including non-ASCII text, is written as is. The last
 * line is the CRC-32 of every byte before it, so a torn or cut-off file is reported
 * ({@link Reason#TRUNCATED}, {@link Reason#CORRUPT}) instead of being half-read. Readers ignore keys
 * they do not know, so version 1 can gain informational fields without a version bump; a change
 * that old readers must not misread needs a new version. {@code written-at} is for people only and
 * is not read back.
 *
 * <p>Values are escaped with {@link Escaping}. Stateless and thread-safe.
 */public final class LockfileCodec {

  /** The format version this code writes and the highest it reads. */
  public static final int FORMAT_VERSION = 1;
  /** The largest lockfile a reader accepts, in bytes. */
  public static final int MAX_BYTES = 64 * 1024;
  /** The suffix of a service's lockfile name in the runtime directory. */
  public static final String FILE_SUFFIX = ".lock";

  private static final String MAGIC = "fastbind-lockfile ";
  private static final byte[] MAGIC_BYTES = MAGIC.getBytes(StandardCharsets.US_ASCII);
  private static final String CRC_KEY = "crc32=";
  private static final byte[] CRC_KEY_BYTES = CRC_KEY.getBytes(StandardCharsets.US_ASCII);

  private static final String K_SERVICE = "service";
  private static final String K_PID = "pid";
  private static final String K_START = "process-start-time";
  private static final String K_BOOT = "boot-id";
  private static final String K_ENDPOINT = "endpoint";
  private static final String K_CONTROL = "control-endpoint";
  private static final String K_VERSION = "daemon-version";
  private static final String K_INSTANCE = "instance-id";
  private static final String K_WRITTEN = "written-at";
  private static final String K_COMPAT = "compatibility";

  private static final char[] HEX = "0123456789ABCDEF".toCharArray();
  /** The keys the record is made of, in a fixed order ({@code written-at} is read only to refuse it twice). */
  private static final String[] KEYS = {K_SERVICE, K_PID, K_START, K_BOOT, K_ENDPOINT, K_CONTROL, K_VERSION, K_INSTANCE,
      K_WRITTEN, K_COMPAT};
  private LockfileCodec() {}

  /**
   * The file's bytes for {@code r}, checksum line included.
   *
   * @throws IllegalArgumentException if the encoded record would exceed {@value #MAX_BYTES} bytes
   */
  public static byte[] encode(LockfileRecord r) {
    Objects.requireNonNull(r, "r");
    StringBuilder b = new StringBuilder(512);
    b.append(MAGIC).append(FORMAT_VERSION).append('\n');
    field(b, K_SERVICE, r.service());
    field(b, K_PID, Long.toString(r.pid()));
    field(b, K_START, r.processStartTime());
    field(b, K_BOOT, r.bootId());
    field(b, K_ENDPOINT, r.endpoint().toString());
    field(b, K_CONTROL, r.controlEndpoint().toString());
    field(b, K_VERSION, r.daemonVersion());
    field(b, K_INSTANCE, r.instanceId());
    if (!r.compatibility().isEmpty()) {
      field(b, K_COMPAT, r.compatibility()); // optional: older readers ignore it, older writers omit it
    }
    field(b, K_WRITTEN, utcSeconds(System.currentTimeMillis()));
    byte[] body = b.toString().getBytes(StandardCharsets.UTF_8);
    CRC32 crc = new CRC32();
    crc.update(body);
    byte[] tail = (CRC_KEY + hex8(crc.getValue()) + '\n').getBytes(StandardCharsets.US_ASCII);
    if (body.length + tail.length > MAX_BYTES) {
      throw new IllegalArgumentException("the lockfile for service '" + r.service() + "' would be "
          + (body.length + tail.length) + " bytes; at most " + MAX_BYTES + " are allowed");
    }
    byte[] out = new byte[body.length + tail.length];
    System.arraycopy(body, 0, out, 0, body.length);
    System.arraycopy(tail, 0, out, body.length, tail.length);
    return out;
  }

  /** {@code v}'s low 32 bits as 8 lowercase hex digits. */
  private static String hex8(long v) {
    char[] c = new char[8];
    for (int i = 7; i >= 0; i--) {
      c[i] = Character.forDigit((int) (v & 0xf), 16);
      v >>>= 4;
    }
    return new String(c);
  }

  /**
   * {@code epochMillis} as {@code 2025-01-01T12:00:00Z} (UTC, whole seconds), what
   * {@code Instant.toString()} prints, without initialising {@code java.time}'s formatters on a
   * daemon's way to readiness. Days to civil date after H. Hinnant's public-domain algorithm.
   */
  public static String utcSeconds(long epochMillis) {
    long seconds = Math.floorDiv(epochMillis, 1000L);
    long days = Math.floorDiv(seconds, 86_400L);
    int secondOfDay = (int) Math.floorMod(seconds, 86_400L);
    long z = days + 719_468;
    long era = Math.floorDiv(z, 146_097);
    long dayOfEra = z - era * 146_097;
    long yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365;
    long dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);
    long mp = (5 * dayOfYear + 2) / 153;
    int day = (int) (dayOfYear - (153 * mp + 2) / 5 + 1);
    int month = (int) (mp < 10 ? mp + 3 : mp - 9);
    long year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
    StringBuilder b = new StringBuilder(20);
    b.append(year).append('-');
    two(b, month).append('-');
    two(b, day).append('T');
    two(b, secondOfDay / 3600).append(':');
    two(b, secondOfDay / 60 % 60).append(':');
    return two(b, secondOfDay % 60).append('Z').toString();
  }

  private static StringBuilder two(StringBuilder b, int v) {
    return b.append((char) ('0' + v / 10)).append((char) ('0' + v % 10));
  }

  private static void field(StringBuilder b, String key, String value) {
    b.append(key).append('=');
    b.append(Escaping.escape(value, ""));
    b.append('\n');
  }

  /**
   * Parses lockfile bytes; {@code fileForMessages} only names the source in errors.
   *
   * @throws LockfileException if the bytes are not a complete, intact lockfile of a version this
   *     code reads
   */
  public static LockfileRecord decode(byte[] bytes, Path fileForMessages) throws LockfileException {
    Objects.requireNonNull(bytes, "bytes");
    Path f = Objects.requireNonNull(fileForMessages, "fileForMessages");
    String stale = ": it is stale; delete it (the broker writes a new one when it starts the daemon)";
    if (bytes.length == 0) {
      throw new LockfileException(Reason.EMPTY, f, "lockfile " + f + " is empty (a write that never completed)" + stale, null);
    }
    if (bytes.length > MAX_BYTES) {
      throw tooLarge(f);
    }
    int magicLen = Math.min(bytes.length, MAGIC_BYTES.length);
    if (!Arrays.equals(bytes, 0, magicLen, MAGIC_BYTES, 0, magicLen)) {
      throw new LockfileException(Reason.FOREIGN, f, "lockfile " + f
          + " does not start with '" + MAGIC.trim() + "', so fastbind did not write it: move it away or delete it", null);
    }
    int headerEnd = indexOf(bytes, (byte) '\n', 0);
    if (bytes.length < MAGIC_BYTES.length || headerEnd < 0) {
      throw truncated(f, "ends inside its header line", stale);
    }
    String versionText = new String(bytes, MAGIC_BYTES.length, headerEnd - MAGIC_BYTES.length, StandardCharsets.ISO_8859_1);
    int version = parseVersion(versionText);
    if (version < 0) {
      throw corrupt(f, "has an unreadable format version '" + Escaping.printable(versionText) + "'", stale);
    }
    if (version > FORMAT_VERSION) {
      throw new LockfileException(Reason.FUTURE_VERSION, f, "lockfile " + f + " was written by a newer fastbind (format "
          + version + "; this reads " + FORMAT_VERSION + "): upgrade the launcher or delete the file", null);
    }
    if (version < 1) {
      throw corrupt(f, "claims format version " + version + ", which never existed", stale);
    }
    if (bytes[bytes.length - 1] != '\n') {
      throw truncated(f, "does not end with a complete line", stale);
    }
    int lastLine = indexOfLast(bytes, (byte) '\n', bytes.length - 2) + 1;
    if (lastLine <= headerEnd || !startsWith(bytes, lastLine, CRC_KEY_BYTES)) {
      throw truncated(f, "has no checksum line at its end", stale);
    }
    String crcText = new String(bytes, lastLine + CRC_KEY_BYTES.length,
        bytes.length - 1 - lastLine - CRC_KEY_BYTES.length, StandardCharsets.ISO_8859_1);
    if (!isLowerHex(crcText, 8)) {
      throw corrupt(f, "has a malformed checksum '" + Escaping.printable(crcText) + "'", stale);
    }
    CRC32 crc = new CRC32();
    crc.update(bytes, 0, lastLine);
    if (crc.getValue() != Long.parseLong(crcText, 16)) {
      throw corrupt(f, "fails its checksum (stored " + crcText + ", computed "
          + hex8(crc.getValue()) + ")", stale);
    }
    String body;
    int bodyFrom = headerEnd + 1;
    int bodyLength = lastLine - headerEnd - 1;
    if (isAscii(bytes, bodyFrom, lastLine)) {
      // The common case: ASCII is valid UTF-8 and decodes byte for byte, without a decoder.
      body = new String(bytes, bodyFrom, bodyLength, StandardCharsets.ISO_8859_1);
    } else {
      try {
        body = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(bytes, bodyFrom, bodyLength))
            .toString();
      } catch (CharacterCodingException e) {
        throw corrupt(f, "is not valid UTF-8", stale);
      }
    }
    // Known keys go to fixed slots; unknown ones (ignored, but never twice) to a set made only when needed.
    String[] values = new String[KEYS.length];
    Set<String> others = null;
    int start = 0;
    while (start < body.length()) {
      int end = body.indexOf('\n', start);
      int eq = body.indexOf('=', start);
      if (eq < 0 || eq > end || !isKey(body, start, eq)) {
        throw corrupt(f, "has a malformed line '" + Escaping.printable(body.substring(start, end)) + "'", stale);
      }
      String value = Escaping.unescapeOrNull(body, eq + 1, end);
      if (value == null) {
        throw corrupt(f, "has a badly escaped value for '" + body.substring(start, eq) + "'", stale);
      }
      int slot = knownKey(body, start, eq);
      boolean repeated;
      if (slot >= 0) {
        repeated = values[slot] != null;
        values[slot] = value;
      } else {
        if (others == null) {
          others = new HashSet<>();
        }
        repeated = !others.add(body.substring(start, eq));
      }
      if (repeated) {
        throw corrupt(f, "has the field '" + body.substring(start, eq) + "' twice", stale);
      }
      start = end + 1;
    }
    try {
      return new LockfileRecord(
          required(values, 0, f, stale),
          parsePid(required(values, 1, f, stale), f, stale),
          required(values, 2, f, stale),
          required(values, 3, f, stale),
          parseEndpoint(required(values, 4, f, stale), K_ENDPOINT, f, stale),
          parseEndpoint(required(values, 5, f, stale), K_CONTROL, f, stale),
          required(values, 6, f, stale),
          required(values, 7, f, stale),
          values[9] == null ? "" : values[9]);
    } catch (IllegalArgumentException e) {
      throw corrupt(f, "holds an invalid record (" + e.getMessage() + ")", stale);
    }
  }

  /** The slot of the known key {@code s[from, to)} in {@link #KEYS}, or -1. */
  private static int knownKey(String s, int from, int to) {
    int length = to - from;
    for (int i = 0; i < KEYS.length; i++) {
      if (KEYS[i].length() == length && s.startsWith(KEYS[i], from)) {
        return i;
      }
    }
    return -1;
  }

  private static int parseVersion(String text) {
    if (text.isEmpty() || text.length() > 9) {
      return -1;
    }
    int v = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      v = v * 10 + (c - '0');
    }
    return v;
  }

  /** Whether {@code s} is exactly {@code length} lowercase hex digits ({@code [0-9a-f]{length}}). */
  private static boolean isLowerHex(String s, int length) {
    if (s.length() != length) {
      return false;
    }
    for (int i = 0; i < length; i++) {
      char c = s.charAt(i);
      if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
        return false;
      }
    }
    return true;
  }

  /** Whether {@code s[from, to)} is a field name: {@code [a-z][a-z0-9-]*}. */
  private static boolean isKey(String s, int from, int to) {
    if (from >= to || s.charAt(from) < 'a' || s.charAt(from) > 'z') {
      return false;
    }
    for (int i = from + 1; i < to; i++) {
      char c = s.charAt(i);
      if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')) {
        return false;
      }
    }
    return true;
  }

  private static boolean isAscii(byte[] b, int from, int to) {
    for (int i = from; i < to; i++) {
      if (b[i] < 0) {
        return false;
      }
    }
    return true;
  }

  private static String required(String[] values, int slot, Path f, String stale) throws LockfileException {
    String v = values[slot];
    if (v == null) {
      throw corrupt(f, "has no '" + KEYS[slot] + "' field", stale);
    }
    return v;
  }

  private static long parsePid(String text, Path f, String stale) throws LockfileException {
    try {
      return Long.parseLong(text);
    } catch (NumberFormatException e) {
      throw corrupt(f, "has a pid that is not a number: '" + Escaping.printable(text) + "'", stale);
    }
  }

  private static Endpoint parseEndpoint(String text, String key, Path f, String stale) throws LockfileException {
    try {
      return Endpoint.parse(text);
    } catch (BindException.InvalidEndpoint e) {
      throw corrupt(f, "has an invalid " + key + " (" + e.getMessage() + ")", stale);
    }
  }

  private static LockfileException truncated(Path f, String what, String stale) {
    return new LockfileException(Reason.TRUNCATED, f, "lockfile " + f + " is truncated: it " + what
        + " (a torn or interrupted write)" + stale, null);
  }

  private static LockfileException corrupt(Path f, String what, String stale) {
    return new LockfileException(Reason.CORRUPT, f, "lockfile " + f + " is corrupt: it " + what + stale, null);
  }

  private static int indexOf(byte[] a, byte v, int from) {
    for (int i = from; i < a.length; i++) {
      if (a[i] == v) {
        return i;
      }
    }
    return -1;
  }

  private static int indexOfLast(byte[] a, byte v, int from) {
    for (int i = from; i >= 0; i--) {
      if (a[i] == v) {
        return i;
      }
    }
    return -1;
  }

  private static boolean startsWith(byte[] a, int at, byte[] prefix) {
    return a.length - at >= prefix.length && Arrays.equals(a, at, at + prefix.length, prefix, 0, prefix.length);
  }

  /** The error for a file larger than {@link #MAX_BYTES}; for the reader that sees its size first. */
  public static LockfileException tooLarge(Path file) {
    return new LockfileException(Reason.TOO_LARGE, file, "lockfile " + file + " is larger than "
        + MAX_BYTES + " bytes, so no fastbind daemon wrote it: delete the file", null);
  }}
