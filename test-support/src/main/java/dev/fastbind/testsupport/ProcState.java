package dev.fastbind.testsupport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A process's state as {@code /proc/<pid>/stat} shows it: the state letter (see proc(5)), the parent,
 * the process group and the session.
 */
public record ProcState(long pid, char state, long parent, long processGroup, long session) {

  /** The state of {@code pid}, or empty when {@code /proc} has no such process. */
  public static Optional<ProcState> read(long pid) {
    String stat;
    try {
      stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    } catch (NoSuchFileException gone) {
      return Optional.empty();
    } catch (IOException e) {
      // ESRCH while reading: the process ended between open and read
      return Optional.empty();
    }
    // "pid (comm) S ppid pgrp session ...": comm may hold spaces and parentheses, so parse after the last ')'
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Optional.of(new ProcState(pid, f[0].charAt(0), Long.parseLong(f[1]), Long.parseLong(f[2]),
        Long.parseLong(f[3])));
  }

  /** The test JVM's own state. */
  public static ProcState self() {
    return read(ProcessHandle.current().pid())
        .orElseThrow(() -> new IllegalStateException("no /proc entry for this JVM: /proc is not mounted"));
  }

  /** Stopped by a signal ({@code T}) or by a tracer ({@code t}). */
  public boolean stopped() {
    return state == 'T' || state == 't';
  }

  /** Ended and not yet reaped by its parent ({@code Z}), or being torn down ({@code X}): it runs no code. */
  public boolean ended() {
    return state == 'Z' || state == 'X';
  }
}
