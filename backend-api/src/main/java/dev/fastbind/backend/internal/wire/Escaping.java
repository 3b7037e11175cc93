package dev.fastbind.backend.internal.wire;

/**
 * The one escaping codec of the wire formats (lockfile values, control-frame values, readiness
 * fields) and the one way the SDK shows untrusted text in a message.
 *
 * <p>A value is written as is, except {@code %}, control characters, characters a person cannot see
 * (format characters, line and paragraph separators, spaces other than U+0020, private-use,
 * unassigned and unpaired surrogate code units) and any character a format reserves (for example
 * {@code =} in control frames, space in the readiness line): each of those UTF-16 code units becomes
 * {@code %XX} (below U+0100) or {@code %uXXXX}. Non-ASCII text a person can read stays readable. Every
 * string round-trips through {@link #escape} and {@link #unescape}.
 */
public final class Escaping {
  private Escaping() {}

  private static final char[] HEX = "0123456789ABCDEF".toCharArray();
  private static final int PRINTABLE_MAX = 200;

  /** {@code value} escaped, with the characters in {@code reserved} escaped too. */
  public static String escape(String value, String reserved) {
    StringBuilder b = null;
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      boolean pair = Character.isHighSurrogate(c) && i + 1 < value.length()
          && Character.isLowSurrogate(value.charAt(i + 1));
      int cp = pair ? Character.toCodePoint(c, value.charAt(i + 1)) : c;
      boolean escaped = (!pair && Character.isSurrogate(c)) || needsEscape(cp) || reserved.indexOf(c) >= 0;
      if (escaped && b == null) {
        b = new StringBuilder(value.length() + 16).append(value, 0, i);
      }
      if (escaped) {
        unit(b, c);
        if (pair) {
          unit(b, value.charAt(i + 1));
        }
      } else if (b != null) {
        b.append(c);
        if (pair) {
          b.append(value.charAt(i + 1));
        }
      }
      if (pair) {
        i++;
      }
    }
    return b == null ? value : b.toString();
  }

  /** {@link #escape(String, String)} appended to {@code b}, with nothing reserved beyond the defaults. */
  public static void escapeTo(StringBuilder b, String value) {
    b.append(escape(value, ""));
  }

  /**
   * Reverses {@link #escape}: {@code %XX} and {@code %uXXXX} become the code unit they name.
   *
   * @throws IllegalArgumentException naming the index, if a {@code %} is not followed by two hex
   *     digits or by {@code u} and four, or a raw control character appears
   */
  public static String unescape(String text) {
    String v = unescapeOrNull(text, 0, text.length());
    if (v == null) {
      throw new IllegalArgumentException("bad escape in '" + printable(text) + "'");
    }
    return v;
  }

  /**
   * The unescaped value of {@code s[from, to)}, or null if it holds a raw control character or a bad
   * escape: for decoders on a hot path, which report the error themselves and throw nothing here.
   */
  public static String unescapeOrNull(String s, int from, int to) {
    StringBuilder b = null;
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if (Character.isISOControl(c)) {
        return null;
      }
      if (c != '%') {
        if (b != null) {
          b.append(c);
        }
        continue;
      }
      if (b == null) {
        b = new StringBuilder(to - from).append(s, from, i);
      }
      int digits = i + 1 < to && s.charAt(i + 1) == 'u' ? 4 : 2;
      int at = digits == 4 ? i + 2 : i + 1;
      if (at + digits > to) {
        return null;
      }
      int v = 0;
      for (int k = at; k < at + digits; k++) {
        int d = Character.digit(s.charAt(k), 16);
        if (d < 0) {
          return null;
        }
        v = (v << 4) | d;
      }
      b.append((char) v);
      i = at + digits - 1;
    }
    return b == null ? s.substring(from, to) : b.toString();
  }

  /**
   * {@code s} as it can safely appear in a one-line message: escaped as above and cut at 200
   * characters (marked with {@code …}). The one printable helper of the SDK.
   */
  public static String printable(String s) {
    if (s == null) {
      return "null";
    }
    boolean cut = s.length() > PRINTABLE_MAX;
    String e = escape(cut ? s.substring(0, PRINTABLE_MAX) : s, "");
    return cut ? e + "…" : e;
  }

  private static boolean needsEscape(int cp) {
    if (cp == '%' || Character.isISOControl(cp)) {
      return true;
    }
    switch (Character.getType(cp)) {
      case Character.FORMAT:
      case Character.LINE_SEPARATOR:
      case Character.PARAGRAPH_SEPARATOR:
      case Character.SURROGATE:
      case Character.PRIVATE_USE:
      case Character.UNASSIGNED:
        return true;
      case Character.SPACE_SEPARATOR:
        return cp != ' ';
      default:
        return false;
    }
  }

  private static void unit(StringBuilder b, char c) {
    b.append('%');
    if (c < 0x100) {
      b.append(HEX[c >> 4]).append(HEX[c & 0xf]);
    } else {
      b.append('u').append(HEX[c >> 12]).append(HEX[(c >> 8) & 0xf]).append(HEX[(c >> 4) & 0xf]).append(HEX[c & 0xf]);
    }
  }
}
