package dev.fastbind.broker.internal;

/**
 * The order of daemon versions that {@link dev.fastbind.broker.VersionPolicy} documents (its class doc
 * is the public statement of the rules; this class is their one implementation).
 *
 * <p>A version it can order is {@code release[-qualifier][+build]}: the release is one or more ASCII
 * decimal numbers separated by dots, the qualifier and the build are one or more dot-separated
 * identifiers of ASCII letters, digits and hyphens. Releases compare number by number, numerically
 * (any length, leading zeros ignored), a missing number counting as 0. Of two equal releases the one
 * without a qualifier is newer; two qualifiers compare as SemVer 2.0.0 (11.4) compares pre-release
 * identifiers: digits-only identifiers numerically and below the others, the others by ASCII, and a
 * list that is a prefix of the other is older. The build is ignored. Anything else (empty, a
 * {@code v} prefix, a blank part, spaces, non-ASCII digits) is {@link Order#UNORDERED}.
 *
 * <p>On the hot path when two installs share a daemon, so it allocates nothing, throws nothing and
 * uses no regular expression.
 */
public final class VersionOrder {
  private VersionOrder() {}

  /** How one version stands against another. */
  public enum Order {
    /** Strictly older. */
    OLDER,
    /** Neither older nor newer, though perhaps spelt differently ({@code 1.4} and {@code 1.4.0}). */
    SAME,
    /** Strictly newer. */
    NEWER,
    /** At least one of the two is not a version this order knows. */
    UNORDERED
  }

  /**
   * How {@code version} stands against {@code other}.
   *
   * @return {@link Order#NEWER} when {@code version} is the newer of the two, and so on;
   *     {@link Order#UNORDERED} when either cannot be ordered
   */
  public static Order compare(String version, String other) {
    if (!orderable(version) || !orderable(other)) {
      return Order.UNORDERED;
    }
    int c = compareOrderable(version, other);
    return c < 0 ? Order.OLDER : c > 0 ? Order.NEWER : Order.SAME;
  }

  /** Whether {@code v} follows the grammar in the class doc. */
  public static boolean orderable(String v) {
    int n = v.length();
    int i = numbers(v, 0, n);
    if (i < 0) {
      return false;
    }
    if (i < n && v.charAt(i) == '-') {
      i = identifiers(v, i + 1, n);
      if (i < 0) {
        return false;
      }
    }
    if (i < n && v.charAt(i) == '+') {
      i = identifiers(v, i + 1, n);
      if (i < 0) {
        return false;
      }
    }
    return i == n;
  }

  /** Past dot-separated numbers from {@code i}, stopping at the first other character; -1 if malformed. */
  private static int numbers(String v, int i, int n) {
    return dotted(v, i, n, true);
  }

  /** Past dot-separated identifiers from {@code i}, stopping at {@code +} or the end; -1 if malformed. */
  private static int identifiers(String v, int i, int n) {
    return dotted(v, i, n, false);
  }

  /** Past dot-separated non-empty runs of digits ({@code digitsOnly}) or identifier characters; -1 if malformed. */
  private static int dotted(String v, int i, int n, boolean digitsOnly) {
    while (true) {
      int start = i;
      while (i < n && (digitsOnly ? isDigit(v.charAt(i)) : isIdentifierChar(v.charAt(i)))) {
        i++;
      }
      if (i == start) {
        return -1;
      }
      if (i < n && v.charAt(i) == '.') {
        i++;
      } else {
        return i;
      }
    }
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private static boolean isIdentifierChar(char c) {
    return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
  }

  /** Compares two orderable versions; negative, zero or positive as {@code a} is older, same or newer. */
  private static int compareOrderable(String a, String b) {
    int na = a.length();
    int nb = b.length();
    int ia = 0;
    int ib = 0;
    boolean moreA = true;
    boolean moreB = true;
    while (moreA || moreB) {
      int ea = moreA ? end(a, ia, na, false) : ia;
      int eb = moreB ? end(b, ib, nb, false) : ib;
      // a release that ran out counts as 0 from there on: an empty range compares as zero
      int c = compareNumbers(a, ia, ea, b, ib, eb);
      if (c != 0) {
        return c;
      }
      if (moreA) {
        moreA = ea < na && a.charAt(ea) == '.';
        ia = moreA ? ea + 1 : ea;
      }
      if (moreB) {
        moreB = eb < nb && b.charAt(eb) == '.';
        ib = moreB ? eb + 1 : eb;
      }
    }
    // ia and ib now stand after the release: at '-', '+' or the end
    boolean qa = ia < na && a.charAt(ia) == '-';
    boolean qb = ib < nb && b.charAt(ib) == '-';
    if (!qa || !qb) {
      return qa == qb ? 0 : qa ? -1 : 1;
    }
    return compareQualifiers(a, ia + 1, b, ib + 1);
  }

  /** SemVer 2.0.0 pre-release precedence over the identifiers from {@code ia} and {@code ib}. */
  private static int compareQualifiers(String a, int ia, String b, int ib) {
    int na = qualifierEnd(a, ia);
    int nb = qualifierEnd(b, ib);
    while (true) {
      boolean doneA = ia >= na;
      boolean doneB = ib >= nb;
      if (doneA || doneB) {
        return doneA == doneB ? 0 : doneA ? -1 : 1;
      }
      int ea = end(a, ia, na, true);
      int eb = end(b, ib, nb, true);
      boolean numA = allDigits(a, ia, ea);
      boolean numB = allDigits(b, ib, eb);
      int c;
      if (numA && numB) {
        c = compareNumbers(a, ia, ea, b, ib, eb);
      } else if (numA != numB) {
        c = numA ? -1 : 1;
      } else {
        c = compareAscii(a, ia, ea, b, ib, eb);
      }
      if (c != 0) {
        return c;
      }
      ia = ea + 1;
      ib = eb + 1;
    }
  }

  /** The end of the qualifier that starts at {@code i}: the {@code +} of the build, or the end. */
  private static int qualifierEnd(String v, int i) {
    int plus = v.indexOf('+', i);
    return plus < 0 ? v.length() : plus;
  }

  /** The end of the number or identifier at {@code i}: the next dot, or the end of the part. */
  private static int end(String v, int i, int n, boolean identifier) {
    while (i < n) {
      char c = v.charAt(i);
      if (c == '.' || (!identifier && !isDigit(c))) {
        return i;
      }
      i++;
    }
    return n;
  }

  private static boolean allDigits(String v, int from, int to) {
    for (int i = from; i < to; i++) {
      if (!isDigit(v.charAt(i))) {
        return false;
      }
    }
    return true;
  }

  /** Compares two runs of digits by value, of any length; an empty run is zero. */
  private static int compareNumbers(String a, int ia, int ea, String b, int ib, int eb) {
    while (ia < ea && a.charAt(ia) == '0') {
      ia++;
    }
    while (ib < eb && b.charAt(ib) == '0') {
      ib++;
    }
    int la = ea - ia;
    int lb = eb - ib;
    if (la != lb) {
      return la < lb ? -1 : 1;
    }
    return compareAscii(a, ia, ea, b, ib, eb);
  }

  private static int compareAscii(String a, int ia, int ea, String b, int ib, int eb) {
    while (ia < ea && ib < eb) {
      char ca = a.charAt(ia++);
      char cb = b.charAt(ib++);
      if (ca != cb) {
        return ca < cb ? -1 : 1;
      }
    }
    int la = ea - ia;
    int lb = eb - ib;
    return la == lb ? 0 : la < lb ? -1 : 1;
  }
}
