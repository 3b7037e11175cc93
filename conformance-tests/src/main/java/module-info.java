/**
 * The fastbind conformance kit: static (bytecode) and behavioural rules a daemon author runs in CI.
 *
 * <p>{@code dev.fastbind.conformance} is the one exported package: extend
 * {@link dev.fastbind.conformance.BrokeredBackendVerification}. The rules are numbered in the module's
 * {@code SPEC.md}.
 */
// "requires-automatic": com.tngtech.archunit is an automatic module. Its name is stable
// (Automatic-Module-Name in its manifest), which is what the warning is about; only ArchUnit can give
// it a descriptor.
@SuppressWarnings("requires-automatic")
module dev.fastbind.conformance {
  requires transitive dev.fastbind.broker;
  requires transitive org.junit.jupiter.api;
  requires com.tngtech.archunit;
  requires org.newsclub.net.unix;

  exports dev.fastbind.conformance;
  opens dev.fastbind.conformance to org.junit.platform.commons;
}
