/**
 * The broker: what a launcher embeds to make sure its daemon is up.
 *
 * <p>{@code dev.fastbind.broker} is the one exported package; everything else is internal. Micrometer
 * is a static dependency: it is loaded only when the caller hands the broker a {@code MeterRegistry}.
 * It is also transitive, because {@code Broker.create(MeterRegistry)} names one of its types: a module
 * that reads the broker can then call that method without requiring Micrometer itself.
 */
// "module": javac compiles this descriptor before the kit exists, so it reports dev.fastbind.conformance
// in the qualified export below as "module not found"; in the reactor it always exists.
// "requires-automatic", "requires-transitive-automatic": micrometer.core is an automatic module. Its
// name is stable (Automatic-Module-Name in its manifest), which is what the warnings are about; only
// Micrometer can give it a descriptor.
@SuppressWarnings({"module", "requires-automatic", "requires-transitive-automatic"})
module dev.fastbind.broker {
  requires transitive dev.fastbind.backend;
  requires static transitive micrometer.core;

  exports dev.fastbind.broker;
  // The conformance kit reports a daemon's log tail exactly as the broker's own errors do.
  exports dev.fastbind.broker.internal to dev.fastbind.conformance;
}
