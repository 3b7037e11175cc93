package dev.fastbind.testing;

import dev.fastbind.broker.DaemonBroker;
import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ServiceStatus;
import dev.fastbind.broker.StopResult;
import java.util.List;
import java.util.Optional;

/**
 * The operations of a {@link DaemonBroker}, as {@link ScriptedBroker} is scripted and
 * {@link RecordingBroker} records them. Overloads share one operation; their calls differ in
 * arguments ({@code stop(definition)} against {@code stop(definition, grace)}).
 */
public enum BrokerOperation {
  /** {@link DaemonBroker#ensureRunning}; answers a {@link DaemonInfo}. */
  ENSURE_RUNNING(DaemonInfo.class),
  /** {@link DaemonBroker#replace}; answers a {@link DaemonInfo}. */
  REPLACE(DaemonInfo.class),
  /** {@link DaemonBroker#awaitServing}; answers a {@link DaemonInfo}. */
  AWAIT_SERVING(DaemonInfo.class),
  /** {@link DaemonBroker#status}; answers a {@link ServiceStatus}. */
  STATUS(ServiceStatus.class),
  /** Both {@code stop} overloads taking a definition; answers a {@link StopResult}. */
  STOP(StopResult.class),
  /** {@link DaemonBroker#stop(dev.fastbind.broker.ListedDaemon, java.time.Duration)}; answers a {@link StopResult}. */
  STOP_LISTED(StopResult.class),
  /** Both {@code list} overloads; answers a {@code List<ListedDaemon>}. */
  LIST(List.class),
  /** Both {@code clean} overloads; answers a {@code List<Path>}. */
  CLEAN(List.class),
  /** {@link DaemonBroker#lastDeath}; answers an {@code Optional<DeathRecord>}. */
  LAST_DEATH(Optional.class);

  private final Class<?> answerType;

  BrokerOperation(Class<?> answerType) {
    this.answerType = answerType;
  }

  /**
   * What this operation returns.
   *
   * @return the class every scripted answer must be an instance of
   */
  public Class<?> answerType() {
    return answerType;
  }
}
