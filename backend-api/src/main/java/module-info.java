/**
 * The fast-bind contract and the daemon-side bootstrap.
 *
 * <p>Daemon authors use the one exported package, {@code dev.fastbind.backend}. The internal package
 * is shared only with the SDK's own modules, so the broker reads exactly the lockfile and control
 * protocol the daemon writes.
 */
// "module": javac compiles this descriptor before the broker and the kit exist, so it reports their
// names in the qualified export below as "module not found"; in the reactor they always exist.
// "requires-automatic", "requires-transitive-automatic": micrometer.core is an automatic module with
// a stable name (Automatic-Module-Name). "static": optional at run time, like the Maven dependency.
@SuppressWarnings({"module", "requires-automatic", "requires-transitive-automatic"})
module dev.fastbind.backend {
  requires jdk.net;
  requires org.newsclub.net.unix;
  requires io.netty.buffer;
  requires static transitive micrometer.core;

  exports dev.fastbind.backend;
  exports dev.fastbind.backend.loop;
  // Only to the SDK's modules that have a descriptor. benchmarks and examples have none: they run on
  // the class path, where every package is visible, so naming them here did nothing but warn.
  exports dev.fastbind.backend.internal.wire to
      dev.fastbind.broker,
      dev.fastbind.conformance;
  exports dev.fastbind.backend.internal to
      dev.fastbind.broker,
      dev.fastbind.conformance;
}
