package dev.fastbind.conformance.internal;

import com.tngtech.archunit.core.domain.JavaAccess;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaConstructor;
import com.tngtech.archunit.core.domain.JavaConstructorCall;
import com.tngtech.archunit.core.domain.JavaField;
import com.tngtech.archunit.core.domain.JavaModifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The static rules' questions about a backend class, answered from its {@link BindReachability}
 * analysis: each returns what the rule's failure message names, empty when the rule holds.
 */
public final class StaticChecks {

  private StaticChecks() {}

  /** The findings of {@code category} as one message body ("  - what (where)" lines), if any. */
  public static Optional<String> findings(BindReachability analysis, Forbidden.Category category) {
    List<BindReachability.Finding> findings = analysis.findings(category);
    if (findings.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of("  - " + findings.stream().map(BindReachability.Finding::describe)
        .collect(Collectors.joining("\n  - ")));
  }

  /** The instance fields of the backend class and of its superclasses outside {@code java.*}. */
  public static List<String> instanceFields(BindReachability analysis) {
    List<String> fields = new ArrayList<>();
    for (JavaClass c = analysis.backend(); c != null && !c.getName().startsWith("java.");
        c = c.getRawSuperclass().orElse(null)) {
      for (JavaField f : c.getFields()) {
        if (!f.getModifiers().contains(JavaModifier.STATIC)) {
          fields.add(f.getFullName());
        }
      }
    }
    return fields;
  }

  /**
   * What keeps the backend's constructors from being trivial: a missing no-argument constructor, and
   * every access a constructor makes other than its superclass constructor call.
   */
  public static List<String> constructorProblems(BindReachability analysis) {
    List<String> problems = new ArrayList<>();
    JavaClass backendClass = analysis.backend();
    boolean noArg = backendClass.getConstructors().stream().anyMatch(c -> c.getRawParameterTypes().isEmpty());
    if (!noArg) {
      problems.add("it has no no-argument constructor");
    }
    for (JavaConstructor c : backendClass.getConstructors()) {
      for (JavaAccess<?> access : c.getAccessesFromSelf()) {
        boolean superCall = access instanceof JavaConstructorCall call
            && backendClass.getRawSuperclass().map(s -> s.equals(call.getTargetOwner())).orElse(false);
        if (!superCall) {
          problems.add(c.getFullName() + " calls or touches " + access.getTarget().getFullName()
              + " (" + access.getSourceCodeLocation() + ")");
        }
      }
    }
    return problems;
  }
}
