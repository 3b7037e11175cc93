/**
 * What the SDK's tests share, so that each concept is written once: {@link dev.fastbind.testsupport.JavaCommand}
 * builds the command line of a test JVM, {@link dev.fastbind.testsupport.Await} waits for a state no
 * event announces, {@link dev.fastbind.testsupport.Signals} signals a process and waits until
 * {@code /proc} shows the effect, {@link dev.fastbind.testsupport.Cleanup} kills what a test started,
 * and {@link dev.fastbind.testsupport.RequiresCapability} skips a test, naming the Debian package, when
 * an optional tool is missing.
 *
 * <p>The module depends on the JDK and the JUnit Jupiter API only and knows no fastbind type, so any
 * module's tests (backend-api's included) can use it. It is not published. Failures are
 * {@link java.lang.AssertionError}s that say what was awaited and for how long.
 */
package dev.fastbind.testsupport;
