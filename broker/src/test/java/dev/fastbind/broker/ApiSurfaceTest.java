package dev.fastbind.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The broker's public API: no internal type in any public signature, and one exception family. */
class ApiSurfaceTest {

  private static final List<Class<?>> API = List.of(Broker.class, BrokerException.class, CrashLoopException.class,
      DaemonInfo.class, DaemonStartException.class, DaemonUnresponsiveException.class, RuntimeFileException.class,
      ServiceDefinition.class, ServiceDefinition.Builder.class, ServiceStatus.class, ServiceStatus.Running.class,
      ServiceStatus.Unresponsive.class, ServiceStatus.Stale.class, ServiceStatus.Untrusted.class,
      ServiceStatus.Absent.class, SpawnLockTimeoutException.class, SpawnReason.class, StopResult.class,
      UnresponsivePolicy.class, UntrustedStateException.class, UntrustedStateException.Kind.class,
      VersionMismatchException.class, VersionPolicy.class, DaemonClient.class, DaemonCallException.class,
      DaemonDiedException.class, CallRefusedException.class, CallRefusedException.Reason.class,
      CallFailedException.class, CallTimeoutException.class, CallCancelledException.class, ListedDaemon.class,
      DaemonBroker.class,
      WorkerPool.class, WorkerPool.Builder.class, Supervision.class, Supervision.Strategy.class, WorkerEvent.class,
      WorkerEvent.Started.class, WorkerEvent.Died.class, WorkerEvent.GaveUp.class, WorkerEvent.Reason.class,
      RestartLimitException.class);

  /** The client's failures: a family of their own, beside the broker's. */
  private static final Set<Class<?>> CALL_FAMILY = Set.of(DaemonDiedException.class, CallRefusedException.class,
      CallFailedException.class, CallTimeoutException.class, CallCancelledException.class);

  private static boolean internal(Class<?> type) {
    Class<?> c = type;
    while (c.isArray()) {
      c = c.getComponentType();
    }
    return c.getPackageName().contains(".internal");
  }

  @Test
  void noPublicSignatureMentionsAnInternalType() {
    List<String> leaks = new ArrayList<>();
    for (Class<?> c : API) {
      List<Executable> members = new ArrayList<>();
      for (Method m : c.getDeclaredMethods()) {
        if (Modifier.isPublic(m.getModifiers()) && !m.isSynthetic()) {
          members.add(m);
          if (internal(m.getReturnType())) {
            leaks.add(m + " returns " + m.getReturnType().getName());
          }
        }
      }
      for (Constructor<?> k : c.getDeclaredConstructors()) {
        if (Modifier.isPublic(k.getModifiers())) {
          members.add(k);
        }
      }
      for (Executable e : members) {
        for (Class<?> p : e.getParameterTypes()) {
          if (internal(p)) {
            leaks.add(e + " takes " + p.getName());
          }
        }
        for (Class<?> x : e.getExceptionTypes()) {
          if (internal(x)) {
            leaks.add(e + " throws " + x.getName());
          }
        }
      }
      if (c.isRecord()) {
        for (RecordComponent rc : c.getRecordComponents()) {
          if (internal(rc.getType())) {
            leaks.add(c.getName() + "." + rc.getName() + " is " + rc.getType().getName());
          }
        }
      }
    }
    assertEquals(List.of(), leaks);
  }

  @Test
  void everyCallExceptionIsOneOfItsSealedFamily() {
    assertTrue(DaemonCallException.class.isSealed());
    assertTrue(java.io.IOException.class.isAssignableFrom(DaemonCallException.class));
    assertEquals(CALL_FAMILY, Set.of(DaemonCallException.class.getPermittedSubclasses()));
    for (Class<?> c : CALL_FAMILY) {
      assertTrue(Modifier.isFinal(c.getModifiers()), c + " is not final");
    }
  }

  @Test
  void everyBrokerExceptionIsOneOfTheSealedFamily() {
    assertTrue(BrokerException.class.isSealed());
    assertTrue(java.io.IOException.class.isAssignableFrom(BrokerException.class));
    Set<Class<?>> permitted = Set.of(BrokerException.class.getPermittedSubclasses());
    for (Class<?> c : API) {
      if (Exception.class.isAssignableFrom(c) && c != BrokerException.class && c != DaemonCallException.class
          && !CALL_FAMILY.contains(c)) {
        assertTrue(permitted.contains(c), c + " is outside the family");
        assertTrue(Modifier.isFinal(c.getModifiers()), c + " is not final");
      }
    }
  }
}
