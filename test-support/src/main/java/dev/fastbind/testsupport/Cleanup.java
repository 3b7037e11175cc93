package dev.fastbind.testsupport;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Kills what a test started and waits until it is gone, within one deadline. Use it in a
 * {@code finally} block or an {@code @AfterEach}: a test that leaves a daemon behind makes the next
 * test's "nothing is running" wrong, and on two cores slows every test after it.
 *
 * <p>A process tree is collected before anything is killed: once a parent dies its children are
 * re-parented and no longer appear among its descendants. Everything gets {@code SIGKILL}
 * ({@link ProcessHandle#destroyForcibly()}), which also ends a stopped process. A process still
 * running at the deadline fails the clean-up with an {@link AssertionError} naming it.
 */
public final class Cleanup {
  /** How long the one-argument methods wait for the killed processes to be gone. */
  public static final Duration DEFAULT_WAIT = Duration.ofSeconds(10);

  private Cleanup() {}

  /** Kills {@code process} and all its descendants; waits up to {@link #DEFAULT_WAIT}. */
  public static void killTree(Process process) {
    killTree(Objects.requireNonNull(process, "process").toHandle(), DEFAULT_WAIT);
  }

  /** Kills {@code process} and all its descendants; waits up to {@code timeout} until they are gone. */
  public static void killTree(Process process, Duration timeout) {
    killTree(Objects.requireNonNull(process, "process").toHandle(), timeout);
  }

  /** Kills {@code root} and all its descendants; waits up to {@code timeout} until they are gone. */
  public static void killTree(ProcessHandle root, Duration timeout) {
    Objects.requireNonNull(root, "root");
    Set<ProcessHandle> tree = new LinkedHashSet<>();
    tree.add(root);
    root.descendants().forEach(tree::add);
    killAll(tree, timeout);
  }

  /** Kills the process {@code pid} and all its descendants, if it exists; waits up to {@link #DEFAULT_WAIT}. */
  public static void killTree(long pid) {
    ProcessHandle.of(pid).ifPresent(h -> killTree(h, DEFAULT_WAIT));
  }

  /** Kills every process in {@code processes} (not their descendants); waits up to {@code timeout}. */
  public static void killAll(Collection<ProcessHandle> processes, Duration timeout) {
    Objects.requireNonNull(timeout, "timeout");
    List<ProcessHandle> all = new ArrayList<>(processes);
    long self = ProcessHandle.current().pid();
    for (ProcessHandle h : all) {
      if (h.pid() <= 1 || h.pid() == self) {
        throw new IllegalArgumentException("refusing to kill pid " + h.pid());
      }
    }
    all.forEach(ProcessHandle::destroyForcibly);
    Await.until(timeout, () -> all.stream().allMatch(h -> Signals.isGone(h.pid())),
        () -> "processes still in the process table after SIGKILL: " + all.stream().filter(h -> !Signals.isGone(h.pid()))
            .map(h -> h.pid() + " " + h.info().commandLine().orElse("?")).collect(Collectors.joining("; ")));
  }
}
