package dev.fastbind.broker;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * What {@link Broker#status} found for a service: a running daemon (with its {@code HELLO} answer),
 * one whose process exists but does not answer, a stale record (with the reason), state the broker
 * does not trust enough to act on, or nothing. Switch over the five records; {@code status} never spawns, stops or cleans anything.
 */
public sealed interface ServiceStatus {

  /**
   * The service name.
   *
   * @return the name of the service asked about, as in its {@link ServiceDefinition}
   */
  String service();

  /**
   * A live daemon that answered {@code HELLO}; or one whose listener the broker has just bound and
   * handed over ({@link DaemonInfo#stage()} {@link DaemonInfo.Stage#BOUND}), which is not asked:
   * it accepts connections into its backlog but has no control endpoint yet, so {@code ready} is
   * false, progress 0, and the phase says so.
   *
   * @param daemon where it listens and who it is
   * @param ready whether warm-up has finished ({@code READY}); false while {@code WARMING}
   * @param progressPercent the warm-up progress it last reported, 0 to 100
   * @param phase the warm-up phase it last reported, if any
   */
  record Running(DaemonInfo daemon, boolean ready, int progressPercent, Optional<String> phase)
      implements ServiceStatus {
    /**
     * Validates the components.
     *
     * @param daemon where it listens and who it is; not null
     * @param ready whether warm-up has finished
     * @param progressPercent the warm-up progress, 0 to 100 (100 once ready)
     * @param phase the warm-up phase, or empty; not null
     * @throws NullPointerException if {@code daemon} or {@code phase} is null
     */
    public Running {
      Objects.requireNonNull(daemon, "daemon");
      Objects.requireNonNull(phase, "phase");
    }

    @Override
    public String service() {
      return daemon.service();
    }
  }

  /**
   * The recorded daemon's process is alive and its endpoint exists, but its control endpoint gave no
   * {@code HELLO} within the probe budget: stopped ({@code SIGSTOP}) or wedged.
   *
   * @param service the service name
   * @param pid the daemon's pid, from its lockfile; the process was left alone
   * @param waited how long the broker waited for {@code HELLO}: the definition's probe budget
   * @param detail what was observed: the process state when it is stopped, and how the {@code HELLO}
   *     failed (timed out, refused, hung up)
   */
  record Unresponsive(String service, long pid, Duration waited, String detail) implements ServiceStatus {
    /**
     * Validates the components.
     *
     * @param service the service name; not null
     * @param pid the daemon's pid
     * @param waited how long the broker waited; not null
     * @param detail what was observed; not null
     * @throws NullPointerException if {@code service}, {@code waited} or {@code detail} is null
     */
    public Unresponsive {
      Objects.requireNonNull(service, "service");
      Objects.requireNonNull(waited, "waited");
      Objects.requireNonNull(detail, "detail");
    }
  }

  /**
   * A lockfile exists but does not describe a usable daemon; {@link Broker#ensureRunning} would
   * clean it up and spawn with this reason.
   *
   * @param service the service name
   * @param reason the machine-readable reason
   * @param detail the human-readable detail (pid, lockfile error…), ending with how the recorded
   *     daemon ended when that is known
   * @param lastDeath how the recorded daemon (or, when that is unknown, the last one) ended: its
   *     death record, or what the broker will record for a process gone without one
   */
  record Stale(String service, SpawnReason reason, String detail, Optional<DeathRecord> lastDeath)
      implements ServiceStatus {
    /**
     * A stale status without a death record.
     *
     * @param service the service name
     * @param reason the machine-readable reason
     * @param detail the human-readable detail
     */
    public Stale(String service, SpawnReason reason, String detail) {
      this(service, reason, detail, Optional.empty());
    }

    /**
     * Validates the components.
     *
     * @param service the service name; not null
     * @param reason the machine-readable reason; not null
     * @param detail the human-readable detail; not null
     * @throws NullPointerException if a component is null
     */
    public Stale {
      Objects.requireNonNull(service, "service");
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(detail, "detail");
      Objects.requireNonNull(lastDeath, "lastDeath");
    }
  }

  /**
   * The runtime files and the kernel disagree in a way the broker will not act on; {@link
   * Broker#ensureRunning} and {@link Broker#stop} would throw {@link UntrustedStateException} with the
   * same {@code kind} and {@code detail}, and change nothing.
   *
   * @param service the service name
   * @param kind what was found
   * @param detail what was found and what to do: the message {@link UntrustedStateException} would carry
   */
  record Untrusted(String service, UntrustedStateException.Kind kind, String detail) implements ServiceStatus {
    /**
     * Validates the components.
     *
     * @param service the service name; not null
     * @param kind what was found; not null
     * @param detail what was found and what to do; not null
     * @throws NullPointerException if a component is null
     */
    public Untrusted {
      Objects.requireNonNull(service, "service");
      Objects.requireNonNull(kind, "kind");
      Objects.requireNonNull(detail, "detail");
    }
  }

  /**
   * No lockfile: the service is not running.
   *
   * @param service the service name
   * @param lastDeath how its last daemon ended, if a death record is on file
   */
  record Absent(String service, Optional<DeathRecord> lastDeath) implements ServiceStatus {
    /**
     * No daemon, and no death record.
     *
     * @param service the service name
     */
    public Absent(String service) {
      this(service, Optional.empty());
    }

    /**
     * Validates the components.
     *
     * @param service the service name; not null
     * @param lastDeath its last death record, or empty; not null
     * @throws NullPointerException if a component is null
     */
    public Absent {
      Objects.requireNonNull(service, "service");
      Objects.requireNonNull(lastDeath, "lastDeath");
    }
  }
}
