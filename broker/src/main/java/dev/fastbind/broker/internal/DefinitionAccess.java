package dev.fastbind.broker.internal;

import dev.fastbind.broker.ServiceDefinition;
import java.util.function.Function;

/**
 * What the broker's internals read from a {@link ServiceDefinition} that is not public API: its
 * compatibility key in canonical form, computed once when the definition is built so the hot path
 * compares two strings. Set by {@code ServiceDefinition}'s static initialiser, which has run before
 * any definition exists.
 */
public final class DefinitionAccess {
  private DefinitionAccess() {}

  private static volatile Function<ServiceDefinition, String> compatibility;

  /** Called once, by {@code ServiceDefinition}. */
  public static void set(Function<ServiceDefinition, String> canonicalCompatibility) {
    if (compatibility != null) {
      throw new IllegalStateException("already set");
    }
    compatibility = canonicalCompatibility;
  }

  /** {@code definition}'s compatibility key, canonical ({@code Compatibility}); "" when empty. */
  public static String compatibility(ServiceDefinition definition) {
    return compatibility.apply(definition);
  }
}
