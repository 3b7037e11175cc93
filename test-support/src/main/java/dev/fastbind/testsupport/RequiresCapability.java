package dev.fastbind.testsupport;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs the annotated test (or every test of the annotated class) only where all the named
 * {@link Capability capabilities} are available; elsewhere JUnit reports it skipped with the missing
 * tool and its Debian package ({@code needs socat (Debian package socat), ...}).
 *
 * <pre>{@code
 * @Test
 * @RequiresCapability({Capability.ROOT, Capability.SOCAT})
 * void connectionFromAnotherUserIsRejected() { ... Capability.SOCAT.executable() ... }
 * }</pre>
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD})
@ExtendWith(CapabilityCondition.class)
public @interface RequiresCapability {
  /** The capabilities the test needs, all of them. */
  Capability[] value();
}
