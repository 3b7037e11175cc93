package dev.fastbind.backend.loop;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The handler threads: a pool of at most {@code max} threads, virtual where the JDK has them. The
 * SDK is compiled for Java 17, so {@code Thread.ofVirtual()} is looked up at run time; on 17 (and on
 * 19 and 20, where it is a preview) the pool has platform threads instead. Idle threads end after
 * 30 s, so an idle daemon keeps none.
 */
final class Workers {
  private Workers() {}

  /** The pool and what kind of threads it runs. */
  static final class Pool {
    private final ExecutorService executor;
    private final boolean virtual;

    Pool(ExecutorService executor, boolean virtual) {
      this.executor = executor;
      this.virtual = virtual;
    }

    ExecutorService executor() {
      return executor;
    }

    boolean virtual() {
      return virtual;
    }
  }

  static Pool pool(String namePrefix, int max) {
    ThreadFactory virtual = virtualThreads(namePrefix);
    ThreadFactory factory = virtual != null ? virtual : platformThreads(namePrefix);
    ThreadPoolExecutor executor = new ThreadPoolExecutor(max, max, 30, TimeUnit.SECONDS,
        new LinkedBlockingQueue<Runnable>(), factory);
    executor.allowCoreThreadTimeOut(true);
    return new Pool(executor, virtual != null);
  }

  /** {@code Thread.ofVirtual().name(prefix, 1).factory()}, or null where the JDK has no (final) virtual threads. */
  static ThreadFactory virtualThreads(String namePrefix) {
    try {
      Class<?> builder = Class.forName("java.lang.Thread$Builder");
      Class<?> ofVirtual = Class.forName("java.lang.Thread$Builder$OfVirtual");
      MethodHandles.Lookup lookup = MethodHandles.publicLookup();
      MethodHandle create = lookup.findStatic(Thread.class, "ofVirtual", MethodType.methodType(ofVirtual));
      MethodHandle name = lookup.findVirtual(ofVirtual, "name",
          MethodType.methodType(ofVirtual, String.class, long.class));
      MethodHandle factory = lookup.findVirtual(builder, "factory", MethodType.methodType(ThreadFactory.class));
      Object b = create.invoke();
      b = name.invoke(b, namePrefix, 1L);
      return (ThreadFactory) factory.invoke(b);
    } catch (Throwable e) {
      // No such class or method (JDK 17, 18), or a preview not enabled (19, 20: UnsupportedOperationException).
      if (e instanceof VirtualMachineError) {
        throw (VirtualMachineError) e;
      }
      return null;
    }
  }

  private static ThreadFactory platformThreads(String namePrefix) {
    AtomicInteger n = new AtomicInteger();
    return new ThreadFactory() {
      @Override
      public Thread newThread(Runnable r) {
        Thread t = new Thread(r, namePrefix + n.incrementAndGet());
        t.setDaemon(true);
        return t;
      }
    };
  }
}
