package dev.fastbind.backend.loop;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The loop's connection threads: platform threads from a cached pool (an idle one ends after 30 s,
 * so an idle daemon keeps none), or, when asked for, one virtual thread per task. The SDK is
 * compiled for Java 17, so {@code Thread.ofVirtual()} is looked up at run time; on 17 (and on 19 and
 * 20, where it is a preview) there are only platform threads.
 */
final class Workers {
  private Workers() {}

  /** Runs connection tasks; {@link #shutdown()} lets idle pooled threads end at once. */
  static final class Pool implements Executor {
    private final Executor executor;
    private final boolean virtual;

    private Pool(Executor executor, boolean virtual) {
      this.executor = executor;
      this.virtual = virtual;
    }

    @Override
    public void execute(Runnable task) {
      executor.execute(task);
    }

    boolean virtual() {
      return virtual;
    }

    void shutdown() {
      if (executor instanceof ExecutorService) {
        ((ExecutorService) executor).shutdown();
      }
    }
  }

  /** Virtual threads if {@code virtual} and the JDK has them, else a cached pool of platform threads. */
  static Pool pool(String namePrefix, boolean virtual) {
    ThreadFactory v = virtual ? virtualThreads(namePrefix) : null;
    if (v != null) {
      return new Pool(new Executor() {
        @Override
        public void execute(Runnable task) {
          v.newThread(task).start();
        }
      }, true);
    }
    ThreadPoolExecutor executor = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS,
        new SynchronousQueue<Runnable>(), platformThreads(namePrefix));
    return new Pool(executor, false);
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

  static ThreadFactory platformThreads(String namePrefix) {
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
