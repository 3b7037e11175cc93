package dev.fastbind.backend;

import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Where a daemon listens: an immutable, validated value.
 *
 * <p>Two kinds exist:
 *
 * <ul>
 *   <li>{@linkplain Kind#UNIX_PATH a Unix-domain socket path}: absolute, normalized, no NUL byte, and
 *       short enough for the platform's {@code sun_path} (at most {@value #LINUX_MAX_PATH_BYTES}
 *       encoded bytes on Linux, {@value #BSD_MAX_PATH_BYTES} on macOS and the BSDs). This is the
 *       default kind; the socket file is protected by the owner-only directory it lives in.
 *   <li>{@linkplain Kind#ABSTRACT a Linux abstract name}: no file at all, gone when its last
 *       listener closes, at most {@value #LINUX_MAX_PATH_BYTES} bytes. Linux only.
 * </ul>
 *
 * <p>Every endpoint has a text form that round-trips through {@link #parse(String)}:
 * {@code unix:/run/user/1000/app/cache.sock} and {@code abstract:cache-1000}. A bare absolute path
 * is accepted by {@code parse} as shorthand for {@code unix:}. Invalid input fails at once with a
 * {@link BindException.InvalidEndpoint} naming the input, the rule it broke and the limit, so a
 * typo in configuration is reported where it was made and not as a bind failure later.
 */
public final class Endpoint {

  /** The longest socket path Linux accepts, in bytes, excluding the terminating NUL. */
  public static final int LINUX_MAX_PATH_BYTES = 107;
  /** The longest socket path macOS and the BSDs accept, in bytes, excluding the terminating NUL. */
  public static final int BSD_MAX_PATH_BYTES = 103;

  private static final String UNIX_PREFIX = "unix:";
  private static final String ABSTRACT_PREFIX = "abstract:";

  /** The kinds of endpoint. */
  public enum Kind {
    /** A socket file in the file system. */
    UNIX_PATH,
    /** A name in Linux's abstract socket namespace. */
    ABSTRACT
  }

  private final Kind kind;
  private final String value;
  /** The socket path for {@link Kind#UNIX_PATH}, kept from validation; null for abstract names. */
  private final Path path;

  private Endpoint(Kind kind, String value, Path path) {
    this.kind = kind;
    this.value = value;
    this.path = path;
  }

  /**
   * A Unix-domain socket path endpoint.
   *
   * @param path the socket file's path, absolute and normalized; a path from another file system is
   *     taken by its text
   * @return an endpoint of kind {@link Kind#UNIX_PATH} whose text form is {@code unix:} and the path
   * @throws BindException.InvalidEndpoint if the path is relative, not normalized, contains a NUL
   *     byte, or is longer than the platform allows
   */
  public static Endpoint unixPath(Path path) throws BindException.InvalidEndpoint {
    Objects.requireNonNull(path, "path");
    return unixPath(path.toString(), path);
  }

  /**
   * A Linux abstract-namespace endpoint.
   *
   * @param name the name without the leading NUL byte the kernel uses, such as {@code cache-1000}; at
   *     most {@value #LINUX_MAX_PATH_BYTES} bytes in UTF-8
   * @return an endpoint of kind {@link Kind#ABSTRACT} whose text form is {@code abstract:} and the name
   * @throws BindException.InvalidEndpoint if the name is empty, contains a NUL byte, is too long, or
   *     this platform has no abstract namespace
   */
  public static Endpoint abstractName(String name) throws BindException.InvalidEndpoint {
    Objects.requireNonNull(name, "name");
    String input = ABSTRACT_PREFIX + name;
    if (name.isEmpty()) {
      throw new BindException.InvalidEndpoint(input, "an abstract name must not be empty");
    }
    if (name.indexOf('\0') >= 0) {
      throw new BindException.InvalidEndpoint(input, "an abstract name must not contain a NUL byte");
    }
    if (!isLinux()) {
      throw new BindException.InvalidEndpoint(input, "abstract socket names exist only on Linux (this is "
          + System.getProperty("os.name") + "); use a unix: path instead");
    }
    int bytes = name.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > LINUX_MAX_PATH_BYTES) {
      throw new BindException.InvalidEndpoint(input, "an abstract name is " + bytes
          + " bytes long; Linux allows at most " + LINUX_MAX_PATH_BYTES);
    }
    return new Endpoint(Kind.ABSTRACT, name, null);
  }

  /**
   * Parses the text form: {@code unix:/absolute/path}, {@code abstract:name}, or a bare absolute path.
   *
   * @param text the text form, as in configuration or a lockfile; not trimmed
   * @return the endpoint, checked as {@link #unixPath} or {@link #abstractName} check it
   * @throws BindException.InvalidEndpoint if the text has no known prefix or its value is invalid
   */
  public static Endpoint parse(String text) throws BindException.InvalidEndpoint {
    Objects.requireNonNull(text, "text");
    if (text.startsWith(UNIX_PREFIX)) {
      String p = text.substring(UNIX_PREFIX.length());
      return unixPath(p, null);
    }
    if (text.startsWith(ABSTRACT_PREFIX)) {
      return abstractName(text.substring(ABSTRACT_PREFIX.length()));
    }
    if (text.startsWith("/")) {
      return unixPath(text, null);
    }
    throw new BindException.InvalidEndpoint(text,
        "expected 'unix:/absolute/path', 'abstract:name' or an absolute path");
  }

  private static Endpoint unixPath(String raw, Path given) throws BindException.InvalidEndpoint {
    if (raw.isEmpty()) {
      throw new BindException.InvalidEndpoint(UNIX_PREFIX + raw, "a socket path must not be empty");
    }
    if (raw.indexOf('\0') >= 0) {
      throw new BindException.InvalidEndpoint(UNIX_PREFIX + raw, "a socket path must not contain a NUL byte");
    }
    Path path;
    try {
      path = given != null ? given : Path.of(raw);
    } catch (InvalidPathException e) {
      throw new BindException.InvalidEndpoint(UNIX_PREFIX + raw, "not a valid path: " + e.getReason());
    }
    if (!path.isAbsolute()) {
      throw new BindException.InvalidEndpoint(UNIX_PREFIX + raw,
          "a socket path must be absolute (a relative one would depend on the working directory)");
    }
    if (!path.equals(path.normalize())) {
      throw new BindException.InvalidEndpoint(UNIX_PREFIX + raw, "a socket path must be normalized (no '.' or '..' segments)");
    }
    if (path.getFileName() == null) {
      throw new BindException.InvalidEndpoint(UNIX_PREFIX + raw, "a socket path must name a file, not the root directory");
    }
    String text = path.toString();
    int bytes = encodedLength(text);
    int max = Platform.MAX_PATH_BYTES;
    if (bytes > max) {
      throw new BindException.InvalidEndpoint(UNIX_PREFIX + raw, "the socket path is " + bytes + " bytes long; "
          + System.getProperty("os.name") + " allows at most " + max
          + " (sun_path); use a shorter runtime directory or service name");
    }
    // path() hands out a default-file-system path, whatever file system the caller's path came from.
    return new Endpoint(Kind.UNIX_PATH, text, path.getFileSystem() == FileSystems.getDefault() ? path : Path.of(text));
  }

  /**
   * The length of {@code text} in the platform's file-name encoding. ASCII text is as many bytes as
   * characters in every encoding a Unix file system uses, so only other text is encoded.
   */
  private static int encodedLength(String text) {
    for (int i = 0; i < text.length(); i++) {
      if (text.charAt(i) >= 0x80) {
        return text.getBytes(nativeCharset()).length;
      }
    }
    return text.length();
  }

  /**
   * The longest socket path this platform accepts, in encoded bytes.
   *
   * @return {@value #BSD_MAX_PATH_BYTES} on macOS and the BSDs, {@value #LINUX_MAX_PATH_BYTES} elsewhere;
   *     the terminating NUL is not counted
   */
  public static int maxPathBytes() {
    return Platform.MAX_PATH_BYTES;
  }

  private static boolean isLinux() {
    return Platform.LINUX;
  }

  private static Charset nativeCharset() {
    String jnu = System.getProperty("sun.jnu.encoding");
    try {
      return jnu == null ? Charset.defaultCharset() : Charset.forName(jnu);
    } catch (RuntimeException e) {
      return Charset.defaultCharset();
    }
  }

  /** Facts about the platform that cannot change while the JVM runs, computed once. */
  private static final class Platform {
    static final String OS = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    static final boolean LINUX = OS.startsWith("linux");
    static final int MAX_PATH_BYTES =
        OS.contains("mac") || OS.contains("darwin") || OS.contains("bsd") ? BSD_MAX_PATH_BYTES : LINUX_MAX_PATH_BYTES;
  }

  /**
   * Which kind of endpoint this is.
   *
   * @return {@link Kind#UNIX_PATH} or {@link Kind#ABSTRACT}; never null
   */
  public Kind kind() {
    return kind;
  }

  /**
   * The socket file's path, present only for {@link Kind#UNIX_PATH}.
   *
   * @return the absolute, normalized path on the default file system; empty for an abstract name
   */
  public Optional<Path> path() {
    return kind == Kind.UNIX_PATH ? Optional.of(path) : Optional.empty();
  }

  /**
   * The abstract name, present only for {@link Kind#ABSTRACT}.
   *
   * @return the name without its {@code abstract:} prefix or leading NUL byte; empty for a socket path
   */
  public Optional<String> abstractName() {
    return kind == Kind.ABSTRACT ? Optional.of(value) : Optional.empty();
  }

  /**
   * An endpoint of the same kind whose path or name has {@code suffix} appended, such as a second
   * endpoint beside a daemon's main one ({@code cache.sock} to {@code cache.sock.v2}). The SDK's own
   * control endpoint is not made this way: it is {@code SERVICE.ctl} in the runtime directory.
   *
   * @param suffix text to append to the last path segment or to the name; must not contain {@code /}
   * @return a new endpoint, checked like one made by {@link #unixPath} or {@link #abstractName}
   * @throws BindException.InvalidEndpoint if the result breaks a rule (most often: too long)
   */
  public Endpoint withSuffix(String suffix) throws BindException.InvalidEndpoint {
    Objects.requireNonNull(suffix, "suffix");
    if (suffix.indexOf('/') >= 0) {
      throw new BindException.InvalidEndpoint(toString() + suffix, "a suffix must not contain '/'");
    }
    return kind == Kind.UNIX_PATH ? unixPath(value + suffix, null) : abstractName(value + suffix);
  }

  /** The text form, {@code unix:/path} or {@code abstract:name}; {@link #parse} reads it back. */
  @Override
  public String toString() {
    return (kind == Kind.UNIX_PATH ? UNIX_PREFIX : ABSTRACT_PREFIX) + value;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Endpoint e && e.kind == kind && e.value.equals(value);
  }

  @Override
  public int hashCode() {
    return kind.hashCode() * 31 + value.hashCode();
  }
}
