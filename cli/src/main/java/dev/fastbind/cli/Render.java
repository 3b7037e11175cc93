package dev.fastbind.cli;

import dev.fastbind.broker.DaemonInfo;
import dev.fastbind.broker.ListedDaemon;
import dev.fastbind.broker.ServiceStatus;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;

/** How a listed daemon is shown: one word for its state, and the same fields in text and JSON. */
final class Render {
  private Render() {}

  /**
   * One word: {@code ready}, {@code warming}, {@code starting} (bound by a broker, not yet serving),
   * {@code unresponsive}, {@code stale}, {@code untrusted} or {@code absent}.
   */
  static String state(ServiceStatus s) {
    if (s instanceof ServiceStatus.Running r) {
      return r.daemon().stage() == DaemonInfo.Stage.BOUND ? "starting" : r.ready() ? "ready" : "warming";
    }
    if (s instanceof ServiceStatus.Unresponsive) {
      return "unresponsive";
    }
    if (s instanceof ServiceStatus.Stale) {
      return "stale";
    }
    if (s instanceof ServiceStatus.Untrusted) {
      return "untrusted";
    }
    return "absent";
  }

  /** The state with its warm-up progress: {@code warming 40% (indexing)}. */
  static String stateWithProgress(ServiceStatus s) {
    if (s instanceof ServiceStatus.Running r && !r.ready() && r.daemon().stage() == DaemonInfo.Stage.SERVING) {
      return "warming " + r.progressPercent() + "%" + r.phase().map(p -> " (" + p + ")").orElse("");
    }
    return state(s);
  }

  /** What the status says beyond its state, for a text explanation; empty when nothing. */
  static String detail(ServiceStatus s) {
    if (s instanceof ServiceStatus.Running r) {
      return r.phase().orElse("");
    }
    if (s instanceof ServiceStatus.Unresponsive u) {
      return "pid " + u.pid() + " did not answer HELLO within " + u.waited().toMillis() + " ms: " + u.detail();
    }
    if (s instanceof ServiceStatus.Stale st) {
      return st.reason() + ": " + st.detail();
    }
    if (s instanceof ServiceStatus.Untrusted u) {
      return u.kind() + ": " + u.detail();
    }
    return "";
  }

  /** Whether a launcher can use the daemon now or soon: running, warming or starting. */
  static boolean usable(ServiceStatus s) {
    return s instanceof ServiceStatus.Running;
  }

  /** {@code 3d4h}, {@code 2h5m}, {@code 4m12s}, {@code 9s}. */
  static String duration(Duration d) {
    long s = d.getSeconds();
    if (s >= 86400) {
      return s / 86400 + "d" + (s % 86400) / 3600 + "h";
    }
    if (s >= 3600) {
      return s / 3600 + "h" + (s % 3600) / 60 + "m";
    }
    if (s >= 60) {
      return s / 60 + "m" + s % 60 + "s";
    }
    return s + "s";
  }

  /** {@code 51.2 MiB}. */
  static String bytes(long b) {
    if (b >= 1L << 30) {
      return String.format("%.1f GiB", b / (double) (1L << 30));
    }
    if (b >= 1L << 20) {
      return String.format("%.1f MiB", b / (double) (1L << 20));
    }
    return String.format("%.1f KiB", b / 1024.0);
  }

  /** A listed daemon as a JSON object. */
  static Map<String, Object> json(ListedDaemon d) {
    Map<String, Object> m = new LinkedHashMap<>();
    ServiceStatus s = d.status();
    m.put("service", d.service());
    m.put("slot", d.slot());
    m.put("sideBySideId", d.compatibilityId());
    m.put("state", state(s));
    m.put("pid", d.pid());
    m.put("version", d.version());
    m.put("compatibilityKeyId", d.compatibilityKeyId());
    m.put("compatibilityKey", d.compatibilityKey());
    if (s instanceof ServiceStatus.Running r) {
      m.put("ready", r.ready());
      m.put("progressPercent", r.progressPercent());
      m.put("phase", r.phase());
      m.put("endpoint", r.daemon().endpoint().toString());
    } else {
      m.put("ready", false);
      m.put("progressPercent", null);
      m.put("phase", null);
      m.put("endpoint", null);
    }
    m.put("uptimeSeconds", d.uptime().map(Duration::getSeconds));
    OptionalLong rss = d.residentBytes();
    m.put("residentBytes", rss);
    m.put("lockfile", d.lockfile().toString());
    m.put("log", d.log().toString());
    if (s instanceof ServiceStatus.Stale st) {
      m.put("reason", st.reason().name());
    } else if (s instanceof ServiceStatus.Untrusted u) {
      m.put("reason", u.kind().name());
    } else {
      m.put("reason", null);
    }
    m.put("detail", detail(s));
    return m;
  }
}
