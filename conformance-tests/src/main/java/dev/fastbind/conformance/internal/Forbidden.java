package dev.fastbind.conformance.internal;

import com.tngtech.archunit.core.domain.AccessTarget;
import com.tngtech.archunit.core.domain.JavaAccess;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaFieldAccess;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What code reachable from {@code bind} must not call, by category: a call site in the backend's own
 * code whose target (owner class and member name) is on one of these lists.
 *
 * <p>The lists name JDK entry points; a library that wraps them (a logging framework that opens a
 * file, a connection pool) is caught only where it calls a listed type itself, which the analysis does
 * not see because it does not follow calls into libraries. The behavioural rule 201 (the bind budget)
 * is the safety net for those.
 */
public final class Forbidden {

  /** The kinds of work {@code bind} must not do. */
  public enum Category {
    /** Reading or writing files, listing directories. */
    FILE_IO("file I/O"),
    /** Sleeping, waiting, parking, blocking on another thread. */
    SLEEP_OR_WAIT("sleeping or waiting"),
    /** Creating threads, executors, timers or processes. */
    THREADS("starting threads, executors or processes"),
    /** Network connections, DNS lookups, JDBC. */
    NETWORK("network or database connections"),
    /** Instance fields and non-final static fields. */
    STATE("instance or mutable static state");

    private final String label;

    Category(String label) {
      this.label = label;
    }

    /** A short human-readable name for messages. */
    public String label() {
      return label;
    }
  }

  private static final Set<String> FILE_OWNERS = Set.of(
      "java.io.FileInputStream", "java.io.FileOutputStream", "java.io.FileReader", "java.io.FileWriter",
      "java.io.RandomAccessFile", "java.nio.file.Files", "java.nio.channels.FileChannel",
      "java.nio.channels.AsynchronousFileChannel", "java.nio.file.spi.FileSystemProvider",
      "java.util.zip.ZipFile", "java.util.jar.JarFile", "java.nio.file.DirectoryStream");
  private static final Set<String> FILE_METHODS_OF_FILE = Set.of(
      "exists", "isFile", "isDirectory", "isHidden", "length", "lastModified", "delete", "deleteOnExit",
      "mkdir", "mkdirs", "createNewFile", "createTempFile", "list", "listFiles", "renameTo", "canRead",
      "canWrite", "canExecute", "setReadable", "setWritable", "setExecutable", "setLastModified",
      "setReadOnly", "getCanonicalPath", "getCanonicalFile", "getFreeSpace", "getTotalSpace",
      "getUsableSpace");
  private static final Set<String> FILE_NAME_PARAMETERS = Set.of("java.lang.String", "java.io.File",
      "java.nio.file.Path");

  private static final Set<String> CONCURRENT_WAITS = Set.of("await", "acquire", "acquireUninterruptibly",
      "take", "awaitTermination", "awaitAdvance", "awaitAdvanceInterruptibly", "lockInterruptibly",
      "invokeAll", "invokeAny", "awaitQuiescence", "awaitUninterruptibly", "awaitNanos", "awaitUntil");

  private static final Set<String> EXECUTOR_METHODS = Set.of("execute", "submit", "schedule",
      "scheduleAtFixedRate", "scheduleWithFixedDelay");

  private Forbidden() {}

  /** What {@code access} does that {@code category} forbids, described for a message; empty if nothing. */
  public static Optional<String> match(Category category, JavaAccess<?> access) {
    if (access instanceof JavaFieldAccess) {
      return Optional.empty();
    }
    JavaClass owner = access.getTargetOwner();
    String ownerName = owner.getName();
    String name = access.getTarget().getName();
    List<JavaClass> paramTypes = access.getTarget() instanceof AccessTarget.CodeUnitAccessTarget t
        ? t.getRawParameterTypes()
        : List.of();
    List<String> params = paramTypes.stream().map(JavaClass::getName).toList();
    boolean matched = switch (category) {
      case FILE_IO -> fileIo(ownerName, name, params);
      case SLEEP_OR_WAIT -> sleepOrWait(owner, ownerName, name, params);
      case THREADS -> threads(owner, ownerName, name);
      case NETWORK -> network(owner, ownerName, name, params);
      case STATE -> false;
    };
    if (!matched) {
      return Optional.empty();
    }
    String member = name.equals("<init>") ? "new " + owner.getSimpleName() : owner.getSimpleName() + "." + name;
    return Optional.of(category.label() + ": " + member + "(" + String.join(", ",
        paramTypes.stream().map(JavaClass::getSimpleName).toList()) + ") [" + ownerName + "]");
  }

  private static boolean fileIo(String owner, String name, List<String> params) {
    if (FILE_OWNERS.contains(owner)) {
      return true;
    }
    if (owner.equals("java.io.File")) {
      return FILE_METHODS_OF_FILE.contains(name);
    }
    if (owner.equals("java.nio.file.Path")) {
      return name.equals("toRealPath") || name.equals("register");
    }
    boolean opensNamedFile = name.equals("<init>") && !params.isEmpty()
        && FILE_NAME_PARAMETERS.contains(params.get(0));
    return opensNamedFile && (owner.equals("java.io.PrintStream") || owner.equals("java.io.PrintWriter")
        || owner.equals("java.util.Scanner") || owner.equals("java.util.Formatter"));
  }

  private static boolean sleepOrWait(JavaClass owner, String ownerName, String name, List<String> params) {
    switch (ownerName) {
      case "java.lang.Thread":
        return name.equals("sleep") || name.equals("join");
      case "java.util.concurrent.locks.LockSupport":
        return name.startsWith("park");
      case "java.util.concurrent.TimeUnit":
        return name.equals("sleep") || name.equals("timedWait") || name.equals("timedJoin");
      case "java.lang.Process":
      case "java.lang.ProcessHandle":
        return name.equals("waitFor") || name.equals("onExit");
      default:
        break;
    }
    if (name.equals("wait") && params.size() <= 2
        && (params.isEmpty() || params.get(0).equals("long"))) {
      return true; // Object.wait, whatever the static type of the receiver
    }
    if (owner.isAssignableTo("java.util.concurrent.Future") && (name.equals("get") || name.equals("join"))) {
      return true;
    }
    return ownerName.startsWith("java.util.concurrent.") && CONCURRENT_WAITS.contains(name);
  }

  private static boolean threads(JavaClass owner, String ownerName, String name) {
    if (owner.isAssignableTo("java.lang.Thread")) {
      return name.equals("<init>") || name.equals("start") || name.equals("ofPlatform")
          || name.equals("ofVirtual") || name.equals("startVirtualThread");
    }
    if (ownerName.equals("java.util.concurrent.Executors") || ownerName.equals("java.util.Timer")
        || ownerName.equals("java.lang.ProcessBuilder") && name.equals("start")
        || ownerName.equals("java.lang.Runtime") && name.equals("exec")
        || ownerName.equals("java.util.concurrent.ForkJoinPool") && name.equals("commonPool")
        || ownerName.equals("java.util.concurrent.ThreadFactory") && name.equals("newThread")) {
      return true;
    }
    if (owner.isAssignableTo("java.util.concurrent.Executor")) {
      return name.equals("<init>") || EXECUTOR_METHODS.contains(name);
    }
    return ownerName.equals("java.util.concurrent.CompletableFuture")
        && (name.endsWith("Async") || name.equals("delayedExecutor"));
  }

  private static boolean network(JavaClass owner, String ownerName, String name, List<String> params) {
    if (ownerName.startsWith("java.sql.") || ownerName.equals("javax.sql.DataSource")) {
      return true;
    }
    switch (ownerName) {
      case "java.net.Socket":
      case "java.net.DatagramSocket":
        return name.equals("<init>") && !params.isEmpty() || name.equals("connect") || name.equals("send");
      case "java.net.URL":
        return name.equals("openConnection") || name.equals("openStream") || name.equals("getContent");
      case "java.net.InetAddress":
        return name.equals("getByName") || name.equals("getAllByName") || name.equals("getLocalHost")
            || name.equals("getCanonicalHostName") || name.equals("getHostName") || name.equals("isReachable");
      case "java.net.http.HttpClient":
        return name.startsWith("send") || name.equals("newHttpClient");
      default:
        break;
    }
    if (owner.isAssignableTo("java.net.URLConnection")) {
      return name.equals("connect") || name.equals("getInputStream") || name.equals("getOutputStream");
    }
    if (owner.isAssignableTo("java.nio.channels.SocketChannel")
        || owner.isAssignableTo("java.nio.channels.AsynchronousSocketChannel")
        || owner.isAssignableTo("java.nio.channels.DatagramChannel")) {
      return name.equals("connect") || name.equals("send") || name.equals("open") && !params.isEmpty()
          && params.get(0).equals("java.net.SocketAddress");
    }
    return ownerName.startsWith("org.newsclub.net.unix.") && name.equals("connect");
  }
}
