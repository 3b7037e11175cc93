/**
 * Test seams for launcher authors: a scripted and a recording broker, and a backend served
 * in-process on a temporary endpoint. JUnit is a static dependency: only the extension needs it.
 */
module dev.fastbind.testing {
  requires transitive dev.fastbind.broker;
  // Transitive: the extension implements JUnit callbacks, so a module that uses it reads JUnit too.
  requires static transitive org.junit.jupiter.api;

  exports dev.fastbind.testing;
}
