package dev.fastbind.testsupport;

import java.lang.reflect.AnnotatedElement;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** The JUnit condition behind {@link RequiresCapability}; registered by the annotation. */
final class CapabilityCondition implements ExecutionCondition {

  @Override
  public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
    Optional<RequiresCapability> required = context.getElement().map(CapabilityCondition::find);
    if (required.isEmpty()) {
      return ConditionEvaluationResult.enabled("no @RequiresCapability");
    }
    List<Capability> missing = Arrays.stream(required.get().value())
        .filter(c -> !c.isAvailable()).collect(Collectors.toList());
    if (missing.isEmpty()) {
      return ConditionEvaluationResult.enabled("has " + Arrays.toString(required.get().value()));
    }
    return ConditionEvaluationResult.disabled(
        missing.stream().map(Capability::missing).collect(Collectors.joining("; ")));
  }

  private static RequiresCapability find(AnnotatedElement element) {
    return element.getAnnotation(RequiresCapability.class);
  }
}
