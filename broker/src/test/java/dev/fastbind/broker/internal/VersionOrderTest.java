package dev.fastbind.broker.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fastbind.broker.internal.VersionOrder.Order;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class VersionOrderTest {

  /** Strictly ascending: every earlier entry is older than every later one. */
  private static final List<String> ASCENDING = List.of(
      "0", "0.9", "0.10", "1.0.0-SNAPSHOT", "1.0.0", "1.0.1", "1.4.0-SNAPSHOT", "1.4.0", "1.4.1",
      "1.10.0-rc.1", "1.10.0", "2", "2.0.0.1", "10.0", "18446744073709551616.0", "99999999999999999999999.0");

  /** The SemVer 2.0.0 (11.4) example, ascending. */
  private static final List<String> SEMVER = List.of(
      "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
      "1.0.0-rc.1", "1.0.0");

  private static Order flip(Order o) {
    return o == Order.OLDER ? Order.NEWER : o == Order.NEWER ? Order.OLDER : o;
  }

  private static void assertAscending(List<String> versions) {
    for (int i = 0; i < versions.size(); i++) {
      for (int j = 0; j < versions.size(); j++) {
        Order expected = i < j ? Order.OLDER : i > j ? Order.NEWER : Order.SAME;
        assertEquals(expected, VersionOrder.compare(versions.get(i), versions.get(j)),
            versions.get(i) + " against " + versions.get(j));
      }
    }
  }

  @Test
  void dottedNumbersCompareNumericallyAndAQualifierIsOlderThanItsRelease() {
    assertEquals(Order.OLDER, VersionOrder.compare("1.4.0", "1.10.0"));
    assertEquals(Order.OLDER, VersionOrder.compare("1.4.0-SNAPSHOT", "1.4.0"));
    assertEquals(Order.NEWER, VersionOrder.compare("2.0", "1.0"));
    assertAscending(ASCENDING);
  }

  @Test
  void qualifiersFollowSemverPrecedence() {
    assertAscending(SEMVER);
  }

  @Test
  void missingNumbersLeadingZerosAndBuildMetadataDoNotMakeAVersionNewer() {
    assertEquals(Order.SAME, VersionOrder.compare("1.4", "1.4.0"));
    assertEquals(Order.SAME, VersionOrder.compare("1.4.0.0", "1.4"));
    assertEquals(Order.SAME, VersionOrder.compare("01.004", "1.4"));
    assertEquals(Order.SAME, VersionOrder.compare("1.4.0+build.7", "1.4.0+other"));
    assertEquals(Order.SAME, VersionOrder.compare("1.4-rc.01", "1.4.0-rc.1"));
    assertEquals(Order.OLDER, VersionOrder.compare("1.4.0-rc.1+b", "1.4.0+a"));
  }

  @Test
  void whatItCannotParseIsUnorderedAgainstAnything() {
    List<String> unorderable = List.of("", " ", "v1.0", "1.0 ", " 1.0", "1..0", ".1", "1.", "1.0-", "1.0+", "1.0-rc..1",
        "1.0-rc.", "1.0_1", "abc", "1.0-é", "١.٠", "1.0+a+b", "1.0-a b", "-1", "+1", "g3f2a9c1");
    for (String u : unorderable) {
      assertFalse(VersionOrder.orderable(u), u);
      assertEquals(Order.UNORDERED, VersionOrder.compare(u, "1.0"), u);
      assertEquals(Order.UNORDERED, VersionOrder.compare("1.0", u), u);
      assertEquals(Order.UNORDERED, VersionOrder.compare(u, u), u);
    }
    assertTrue(VersionOrder.orderable("1.0.0-x-y.2+exp.sha-5114f85"));
  }

  @Test
  void randomStringsNeverThrowAndOrderConsistentlyBothWays() {
    Random random = new Random(12);
    String alphabet = "0123456789..--+aZ ";
    List<String> orderable = new ArrayList<>();
    for (int n = 0; n < 20_000; n++) {
      StringBuilder sb = new StringBuilder();
      for (int k = random.nextInt(9); k >= 0; k--) {
        sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
      }
      String a = sb.toString();
      String b = ASCENDING.get(random.nextInt(ASCENDING.size()));
      assertEquals(flip(VersionOrder.compare(a, b)), VersionOrder.compare(b, a), a + " against " + b);
      if (VersionOrder.orderable(a)) {
        assertEquals(Order.SAME, VersionOrder.compare(a, a), a);
        if (orderable.size() < 300) {
          orderable.add(a);
        }
      }
    }
    assertTrue(orderable.size() > 50, "the generator makes enough orderable versions: " + orderable.size());
    // transitivity over what the generator found orderable
    for (String a : orderable) {
      for (String b : orderable) {
        Order ab = VersionOrder.compare(a, b);
        assertEquals(flip(ab), VersionOrder.compare(b, a), a + " against " + b);
        if (ab == Order.UNORDERED) {
          throw new AssertionError(a + " and " + b + " are both orderable");
        }
        for (String c : orderable.subList(0, 40)) {
          if (ab != Order.NEWER && VersionOrder.compare(b, c) != Order.NEWER) {
            assertFalse(VersionOrder.compare(a, c) == Order.NEWER, a + " <= " + b + " <= " + c);
          }
        }
      }
    }
  }
}
