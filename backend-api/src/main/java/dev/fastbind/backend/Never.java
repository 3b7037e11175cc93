package dev.fastbind.backend;

/**
 * The return type of {@link BrokeredBackend#serve}: a type with no instances.
 *
 * <p>Because no value of this type can ever exist, the only way to satisfy a method declared to
 * return {@code Never} is to not return normally: loop forever, throw, or exit the process. A daemon
 * whose {@code serve} method "finishes" is a bug, and this makes the compiler say so.
 */
public final class Never {
  private Never() {
    throw new AssertionError("Never has no instances");
  }
}
