package dev.fastbind.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Ties the three places a rule lives, mechanically: its method on {@link BrokeredBackendRules} (a
 * {@code @Test} of {@link BrokeredBackendVerification}), its row in {@code SPEC.md}, and, for a
 * {@code required_} or {@code optional_} rule, a proof in {@link KitSelfTest#PROOFS} that a broken
 * backend fails it. A rule added in one place and forgotten in another fails here.
 */
class RuleTieTest {

  private static final Pattern RULE_NAME = Pattern.compile("(required|optional|untested)_spec(\\d{3})_[A-Za-z0-9]+");
  /** A rule row of a SPEC.md table: {@code | 101 |}, {@code | 207 *(optional)* |}, {@code | 191 *(untested)* |}. */
  private static final Pattern SPEC_ROW = Pattern.compile("^\\|\\s*(\\d{3})\\s*(?:\\*\\((optional|untested)\\)\\*)?\\s*\\|");

  @Test
  void everyRuleIsATestOfTheKitNamedByItsKindAndNumber() {
    List<String> wrong = new ArrayList<>();
    Set<String> numbers = new TreeSet<>();
    for (Method m : BrokeredBackendRules.class.getMethods()) {
      if (!RULE_NAME.matcher(m.getName()).matches()) {
        wrong.add(m.getName() + " is not named (required|optional|untested)_specNNN_name");
        continue;
      }
      if (!numbers.add(KitSelfTest.ruleOf(m.getName()))) {
        wrong.add(m.getName() + " reuses rule number " + KitSelfTest.ruleOf(m.getName()));
      }
      try {
        Method impl = BrokeredBackendVerification.class.getDeclaredMethod(m.getName());
        if (!impl.isAnnotationPresent(Test.class) || !Modifier.isPublic(impl.getModifiers())) {
          wrong.add(m.getName() + " is not a public @Test of BrokeredBackendVerification");
        }
      } catch (NoSuchMethodException e) {
        wrong.add(m.getName() + " is not implemented by BrokeredBackendVerification");
      }
    }
    for (Method m : BrokeredBackendVerification.class.getDeclaredMethods()) {
      if (m.isAnnotationPresent(Test.class) && !rules().containsKey(KitSelfTest.ruleOf(m.getName()))) {
        wrong.add(m.getName() + " is a @Test of the kit but not a rule of BrokeredBackendRules");
      }
    }
    assertEquals(List.of(), wrong);
  }

  @Test
  void everyRuleHasASpecRowAndEveryRowARule() throws IOException {
    assertEquals(List.of(), specMismatches(rules(), specRows(spec())));
  }

  @Test
  void everyRequiredAndOptionalRuleHasABrokenBackendThatFailsIt() {
    assertEquals(Set.of(), unproven(rules(), KitSelfTest.PROOFS));
  }

  @Test
  void everyProofIsOfARule() {
    Set<String> unknown = KitSelfTest.PROOFS.stream().map(KitSelfTest.Proof::rule)
        .filter(r -> !rules().containsKey(r)).collect(Collectors.toCollection(TreeSet::new));
    assertEquals(Set.of(), unknown);
  }

  @Test
  void everyRuleThatCanFailHasARowInTheSpecsBrokenBackendTable() throws IOException {
    Set<String> listed = brokenBackendRows(spec());
    Set<String> missing = rules().entrySet().stream().filter(e -> !e.getValue().equals("untested"))
        .map(Map.Entry::getKey).filter(r -> !listed.contains(r)).collect(Collectors.toCollection(TreeSet::new));
    assertEquals(Set.of(), missing);
  }

  // The tie can fail: each check, fed what a forgetful edit leaves behind.

  @Test
  void aRuleWithoutASpecRowIsReported() throws IOException {
    String spec = spec().lines().filter(l -> !l.startsWith("| 304 |")).collect(Collectors.joining("\n"));
    assertEquals(List.of("rule 304 (required) has no row in SPEC.md"), specMismatches(rules(), specRows(spec)));
  }

  @Test
  void aSpecRowWithoutARuleIsReported() throws IOException {
    String spec = spec() + "\n| rule | what |\n| --- | --- |\n| 399 | something new |\n";
    assertEquals(List.of("SPEC.md row 399 (required) has no rule"), specMismatches(rules(), specRows(spec)));
  }

  @Test
  void aRuleWhoseSpecRowHasAnotherKindIsReported() throws IOException {
    String spec = spec().replace("| 207 *(optional)* |", "| 207 |");
    assertEquals(List.of("rule 207 is optional but SPEC.md lists it as required"),
        specMismatches(rules(), specRows(spec)));
  }

  @Test
  void aRuleWithoutABrokenBackendIsReported() {
    List<KitSelfTest.Proof> withoutOne = KitSelfTest.PROOFS.stream().filter(p -> !p.rule().equals("105")).toList();
    assertEquals(Set.of("105"), unproven(rules(), withoutOne));
  }

  /** The rules of the interface: number to kind ({@code required}, {@code optional}, {@code untested}). */
  static Map<String, String> rules() {
    Map<String, String> rules = new TreeMap<>();
    for (Method m : BrokeredBackendRules.class.getMethods()) {
      Matcher matcher = RULE_NAME.matcher(m.getName());
      if (matcher.matches()) {
        rules.put(matcher.group(2), matcher.group(1));
      }
    }
    return rules;
  }

  /** The rule rows of SPEC.md's tables: number to kind. */
  static Map<String, String> specRows(String spec) {
    Map<String, String> rows = new TreeMap<>();
    for (String line : spec.split("\n")) {
      Matcher m = SPEC_ROW.matcher(line);
      if (m.find()) {
        rows.put(m.group(1), m.group(2) == null ? "required" : m.group(2));
      }
    }
    return rows;
  }

  /** What differs between the rules and the SPEC's rows, one line per difference. */
  static List<String> specMismatches(Map<String, String> rules, Map<String, String> rows) {
    List<String> wrong = new ArrayList<>();
    rules.forEach((number, kind) -> {
      if (!rows.containsKey(number)) {
        wrong.add("rule " + number + " (" + kind + ") has no row in SPEC.md");
      } else if (!rows.get(number).equals(kind)) {
        wrong.add("rule " + number + " is " + kind + " but SPEC.md lists it as " + rows.get(number));
      }
    });
    rows.forEach((number, kind) -> {
      if (!rules.containsKey(number)) {
        wrong.add("SPEC.md row " + number + " (" + kind + ") has no rule");
      }
    });
    return wrong;
  }

  /** The {@code required_} and {@code optional_} rules no proof fails. */
  static Set<String> unproven(Map<String, String> rules, Collection<KitSelfTest.Proof> proofs) {
    Set<String> proven = proofs.stream().map(KitSelfTest.Proof::rule).collect(Collectors.toSet());
    return rules.entrySet().stream().filter(e -> !e.getValue().equals("untested")).map(Map.Entry::getKey)
        .filter(r -> !proven.contains(r)).collect(Collectors.toCollection(TreeSet::new));
  }

  /** Every rule number in the second column of SPEC.md's "broken backend | rule" table. */
  private static Set<String> brokenBackendRows(String spec) {
    Set<String> numbers = new TreeSet<>();
    boolean inTable = false;
    for (String line : spec.split("\n")) {
      if (line.startsWith("| broken backend |")) {
        inTable = true;
      } else if (inTable && line.startsWith("|")) {
        String[] cells = line.split("\\|");
        Matcher m = Pattern.compile("\\d{3}").matcher(cells.length > 2 ? cells[2] : "");
        while (m.find()) {
          numbers.add(m.group());
        }
      } else {
        inTable = false;
      }
    }
    return numbers;
  }

  /** The module's SPEC.md; Surefire runs in the module's directory. */
  private static String spec() throws IOException {
    Path spec = Path.of("SPEC.md");
    assertTrue(Files.isRegularFile(spec), () -> "no SPEC.md in " + Path.of("").toAbsolutePath());
    return Files.readString(spec, StandardCharsets.UTF_8);
  }
}
