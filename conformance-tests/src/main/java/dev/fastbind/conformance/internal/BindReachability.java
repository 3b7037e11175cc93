package dev.fastbind.conformance.internal;

import com.tngtech.archunit.core.domain.AccessTarget;
import com.tngtech.archunit.core.domain.JavaAccess;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaCodeUnit;
import com.tngtech.archunit.core.domain.JavaConstructor;
import com.tngtech.archunit.core.domain.JavaField;
import com.tngtech.archunit.core.domain.JavaFieldAccess;
import com.tngtech.archunit.core.domain.JavaMethod;
import com.tngtech.archunit.core.domain.JavaModifier;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.Location;
import java.net.URISyntaxException;
import java.security.CodeSource;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The bytecode analysis behind the static rules: which code a backend's {@code bind} can reach, and
 * what that code calls and touches.
 *
 * <p>The backend's own code is imported with ArchUnit from the class-path location (directory or jar)
 * its class was loaded from. Starting at {@code bind(Endpoint)} and at the class's static initialiser
 * (which runs before {@code bind}), the analysis follows method and constructor calls and method
 * references whose target lives in that imported code: private helpers, other classes of the backend,
 * lambda bodies (ArchUnit attributes them to their enclosing method; the synthetic {@code lambda$…}
 * methods are followed as well) and, for a call to a method of the backend's own types, every
 * imported override of it. Calls into the JDK, libraries and the fastbind SDK are not followed: they
 * are checked against the {@link Forbidden} lists at the call site. What it cannot follow is listed in
 * {@code SPEC.md}.
 */
public final class BindReachability {

  private static final Map<Class<?>, BindReachability> CACHE = new ConcurrentHashMap<>();

  private final JavaClasses classes;
  private final JavaClass backend;
  private final Map<JavaCodeUnit, JavaCodeUnit> reachedFrom = new LinkedHashMap<>();

  private BindReachability(JavaClasses classes, JavaClass backend) {
    this.classes = classes;
    this.backend = backend;
    explore();
  }

  /** The analysis of {@code backendClass}, imported once per JVM. */
  public static BindReachability of(Class<?> backendClass) {
    Objects.requireNonNull(backendClass, "backendClass");
    return CACHE.computeIfAbsent(backendClass, BindReachability::importAndAnalyse);
  }

  private static BindReachability importAndAnalyse(Class<?> backendClass) {
    CodeSource source = backendClass.getProtectionDomain().getCodeSource();
    if (source == null || source.getLocation() == null) {
      throw new IllegalStateException("cannot find where " + backendClass.getName()
          + " was loaded from; the static rules need its class files on the class path");
    }
    Location location;
    try {
      location = Location.of(source.getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException("bad code source location for " + backendClass.getName(), e);
    }
    JavaClasses classes = new ClassFileImporter().importLocations(List.of(location));
    return new BindReachability(classes, classes.get(backendClass));
  }

  /** One forbidden call or access found in code reachable from {@code bind}. */
  public record Finding(Forbidden.Category category, String what, String where, String via) {
    /** A one-line description for a failure message. */
    public String describe() {
      return what + " at " + where + (via.isEmpty() ? "" : ", reached as " + via);
    }
  }

  /** The imported backend class. */
  public JavaClass backend() {
    return backend;
  }

  /** Whether the backend declares or inherits (from its own code) a {@code bind(Endpoint)}. */
  public Optional<JavaMethod> bindMethod() {
    for (JavaClass c = backend; c != null && isOwnCode(c); c = c.getRawSuperclass().orElse(null)) {
      for (JavaMethod m : c.getMethods()) {
        if (m.getName().equals("bind") && m.getRawParameterTypes().size() == 1
            && m.getRawParameterTypes().get(0).getName().equals("dev.fastbind.backend.Endpoint")
            && !m.getModifiers().contains(JavaModifier.ABSTRACT)
            && !m.getModifiers().contains(JavaModifier.BRIDGE)) {
          return Optional.of(m);
        }
      }
    }
    return Optional.empty();
  }

  /** Every finding of {@code category}, in a stable order. */
  public List<Finding> findings(Forbidden.Category category) {
    List<Finding> out = new ArrayList<>();
    Set<String> seen = new LinkedHashSet<>();
    for (JavaCodeUnit unit : reachedFrom.keySet()) {
      for (JavaAccess<?> access : unit.getAccessesFromSelf()) {
        Optional<String> what = category == Forbidden.Category.STATE
            ? stateAccess(access)
            : Forbidden.match(category, access);
        if (what.isPresent()) {
          String where = access.getOrigin().getFullName() + " " + access.getSourceCodeLocation();
          if (seen.add(what.get() + where)) {
            out.add(new Finding(category, what.get(), where, chain(unit)));
          }
        }
      }
    }
    return out;
  }

  private Optional<String> stateAccess(JavaAccess<?> access) {
    if (!(access instanceof JavaFieldAccess fieldAccess)) {
      return Optional.empty();
    }
    Optional<JavaField> resolved = fieldAccess.getTarget().resolveMember();
    if (resolved.isEmpty()) {
      return Optional.empty();
    }
    JavaField field = resolved.get();
    Set<JavaModifier> modifiers = field.getModifiers();
    String verb = fieldAccess.getAccessType() == JavaFieldAccess.AccessType.SET ? "writes" : "reads";
    if (!modifiers.contains(JavaModifier.STATIC)) {
      JavaCodeUnit origin = access.getOrigin();
      boolean initialisingNewObject = origin instanceof JavaConstructor
          && origin.getOwner().equals(field.getOwner())
          && fieldAccess.getAccessType() == JavaFieldAccess.AccessType.SET;
      if (initialisingNewObject) {
        return Optional.empty();
      }
      return Optional.of(verb + " instance field " + field.getFullName());
    }
    if (!modifiers.contains(JavaModifier.FINAL)) {
      return Optional.of(verb + " mutable static field " + field.getFullName());
    }
    return Optional.empty();
  }

  private String chain(JavaCodeUnit unit) {
    List<String> names = new ArrayList<>();
    for (JavaCodeUnit u = unit; u != null; u = reachedFrom.get(u)) {
      names.add(0, u.getOwner().getSimpleName() + "." + u.getName());
      if (reachedFrom.get(u) == u) {
        break;
      }
    }
    return names.size() <= 1 ? "" : String.join(" -> ", names);
  }

  private void explore() {
    Deque<JavaCodeUnit> queue = new ArrayDeque<>();
    bindMethod().ifPresent(m -> visit(m, m, queue));
    backend.getStaticInitializer().ifPresent(s -> visit(s, s, queue));
    while (!queue.isEmpty()) {
      JavaCodeUnit unit = queue.removeFirst();
      for (JavaAccess<?> access : unit.getAccessesFromSelf()) {
        if (access instanceof JavaFieldAccess || !isOwnCode(access.getTargetOwner())) {
          continue;
        }
        AccessTarget target = access.getTarget();
        if (target instanceof AccessTarget.CodeUnitAccessTarget codeTarget) {
          codeTarget.resolveMember().ifPresent(m -> visit(m, unit, queue));
          if (codeTarget instanceof AccessTarget.MethodCallTarget
              || codeTarget instanceof AccessTarget.MethodReferenceTarget) {
            overrides(codeTarget).forEach(m -> visit(m, unit, queue));
          }
        }
      }
      String lambdaPrefix = "lambda$" + switch (unit.getName()) {
        case "<init>" -> "new";
        case "<clinit>" -> "static";
        default -> unit.getName();
      } + "$";
      for (JavaMethod m : unit.getOwner().getMethods()) {
        if (m.getName().startsWith(lambdaPrefix)) {
          visit(m, unit, queue);
        }
      }
    }
  }

  private List<JavaMethod> overrides(AccessTarget.CodeUnitAccessTarget target) {
    List<JavaMethod> out = new ArrayList<>();
    String owner = target.getOwner().getName();
    List<String> params = target.getRawParameterTypes().stream().map(JavaClass::getName).toList();
    for (JavaClass c : classes) {
      if (c.getName().equals(owner) || !c.isAssignableTo(owner)) {
        continue;
      }
      for (JavaMethod m : c.getMethods()) {
        if (m.getName().equals(target.getName())
            && m.getRawParameterTypes().stream().map(JavaClass::getName).toList().equals(params)) {
          out.add(m);
        }
      }
    }
    return out;
  }

  private void visit(JavaCodeUnit unit, JavaCodeUnit from, Deque<JavaCodeUnit> queue) {
    if (!reachedFrom.containsKey(unit)) {
      reachedFrom.put(unit, from);
      queue.addLast(unit);
    }
  }

  private boolean isOwnCode(JavaClass c) {
    String name = c.getName();
    return classes.contain(name)
        && !name.startsWith("dev.fastbind.backend.")
        && !name.startsWith("dev.fastbind.broker.");
  }
}
