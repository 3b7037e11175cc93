package dev.fastbind.examples.cache;

import dev.fastbind.backend.loop.Codec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What {@code cachectl} and the cache daemon say to each other, on top of the request loop's frames
 * ({@code docs/wire.md}, "Request loop protocol"): each request and each answer is one frame whose
 * payload starts with one ASCII letter naming what it is.
 *
 * <table>
 *   <caption>Requests</caption>
 *   <tr><th>payload</th><th>means</th><th>answers</th></tr>
 *   <tr><td>{@code P} + the blob</td><td>store the blob</td><td>{@code K}</td></tr>
 *   <tr><td>{@code G} + 64 hex digits</td><td>the blob with this SHA-256</td><td>{@code B}, {@code N} or {@code D}</td></tr>
 *   <tr><td>{@code S}</td><td>statistics</td><td>{@code T}</td></tr>
 * </table>
 *
 * <table>
 *   <caption>Answers</caption>
 *   <tr><th>payload</th><th>means</th></tr>
 *   <tr><td>{@code K} + {@code +} or {@code =} + the key</td><td>stored: new, or already there</td></tr>
 *   <tr><td>{@code B} + the blob</td><td>found; its SHA-256 was checked against the key just now</td></tr>
 *   <tr><td>{@code N} + the key</td><td>not in the cache</td></tr>
 *   <tr><td>{@code D} + UTF-8 text</td><td>the blob on disk is damaged: what, where, and what to do</td></tr>
 *   <tr><td>{@code T} + UTF-8 {@code name=value} lines</td><td>statistics</td></tr>
 * </table>
 *
 * A request the daemon cannot decode is answered with the loop's {@code ERROR} frame. Keys are
 * lowercase hex; both codecs refuse anything else with an {@link IOException} that says what.
 */
public final class CacheProtocol {

  /** The largest blob the cache stores: 16 MiB, so a put request fits the loop's default frame limit. */
  public static final int MAX_BLOB_BYTES = 16 << 20;
  /** The largest request payload: a put of the largest blob (its letter and the blob). */
  public static final int MAX_REQUEST_BYTES = MAX_BLOB_BYTES + 1;

  private CacheProtocol() {}

  /** A request to the cache. */
  public sealed interface Request permits Put, Get, Stats {}

  /** Store {@code blob}; answered {@link Stored}. */
  public record Put(byte[] blob) implements Request {
    /** Checks the size. */
    public Put {
      Objects.requireNonNull(blob, "blob");
      if (blob.length > MAX_BLOB_BYTES) {
        throw new IllegalArgumentException("a blob holds at most " + MAX_BLOB_BYTES + " bytes, got " + blob.length);
      }
    }
  }

  /** The blob stored under {@code key}; answered {@link Found}, {@link NotFound} or {@link Damaged}. */
  public record Get(String key) implements Request {
    /** Checks the key. */
    public Get {
      requireKey(key);
    }
  }

  /** Statistics; answered {@link Statistics}. */
  public record Stats() implements Request {}

  /** An answer of the cache. */
  public sealed interface Response permits Stored, Found, NotFound, Damaged, Statistics {}

  /**
   * The blob is stored under {@code key}.
   *
   * @param key its SHA-256, lowercase hex
   * @param added false if the cache already held it
   */
  public record Stored(String key, boolean added) implements Response {
    /** Checks the key. */
    public Stored {
      requireKey(key);
    }
  }

  /** The blob asked for, checked against its key. */
  public record Found(byte[] blob) implements Response {
    /** Checks for null. */
    public Found {
      Objects.requireNonNull(blob, "blob");
    }
  }

  /** No blob under {@code key}. */
  public record NotFound(String key) implements Response {
    /** Checks the key. */
    public NotFound {
      requireKey(key);
    }
  }

  /** The blob under the key asked for is damaged on disk: {@code detail} names the file and the fix. */
  public record Damaged(String detail) implements Response {
    /** Checks for null. */
    public Damaged {
      Objects.requireNonNull(detail, "detail");
    }
  }

  /**
   * What the daemon holds and has done.
   *
   * @param entries blobs in the index
   * @param bytes their total size
   * @param hits gets answered with a blob
   * @param misses gets answered not found or damaged
   * @param indexLoad how long loading the index took at the daemon's start
   * @param uptime how long the daemon has served
   * @param pid the daemon's process id
   * @param stateDirectory where the blobs and the index are
   */
  public record Statistics(long entries, long bytes, long hits, long misses, Duration indexLoad, Duration uptime,
      long pid, String stateDirectory) implements Response {
    /** Checks for null. */
    public Statistics {
      Objects.requireNonNull(indexLoad, "indexLoad");
      Objects.requireNonNull(uptime, "uptime");
      Objects.requireNonNull(stateDirectory, "stateDirectory");
    }
  }

  /** Whether {@code key} is a SHA-256 in lowercase hex, as the cache names blobs. */
  public static boolean isKey(String key) {
    return key != null && key.length() == 64 && key.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }

  private static String requireKey(String key) {
    if (!isKey(key)) {
      throw new IllegalArgumentException("a key is 64 lowercase hex digits (a SHA-256), got '" + key + "'");
    }
    return key;
  }

  /** The requests' codec, for the client's {@code DaemonClient.call} and the daemon's {@code Handler}. */
  public static final Codec<Request> REQUESTS = new Codec<>() {
    @Override
    public byte[] encode(Request request) {
      if (request instanceof Put p) {
        return tagged('P', p.blob());
      }
      if (request instanceof Get g) {
        return tagged('G', g.key().getBytes(StandardCharsets.US_ASCII));
      }
      return new byte[] {'S'};
    }

    @Override
    public Request decode(byte[] bytes) throws IOException {
      byte[] body = body(bytes);
      try {
        switch (tag(bytes)) {
          case 'P': return new Put(body);
          case 'G': return new Get(new String(body, StandardCharsets.US_ASCII));
          case 'S': return new Stats();
          default: throw new IOException("unknown request '" + (char) bytes[0] + "': expected P, G or S");
        }
      } catch (IllegalArgumentException e) {
        throw new IOException(e.getMessage(), e);
      }
    }

    @Override
    public String toString() {
      return "CacheProtocol.REQUESTS";
    }
  };

  /** The answers' codec. */
  public static final Codec<Response> RESPONSES = new Codec<>() {
    @Override
    public byte[] encode(Response response) {
      if (response instanceof Stored s) {
        return tagged('K', ((s.added() ? "+" : "=") + s.key()).getBytes(StandardCharsets.US_ASCII));
      }
      if (response instanceof Found f) {
        return tagged('B', f.blob());
      }
      if (response instanceof NotFound n) {
        return tagged('N', n.key().getBytes(StandardCharsets.US_ASCII));
      }
      if (response instanceof Damaged d) {
        return tagged('D', d.detail().getBytes(StandardCharsets.UTF_8));
      }
      Statistics s = (Statistics) response;
      String text = "entries=" + s.entries() + "\nbytes=" + s.bytes() + "\nhits=" + s.hits() + "\nmisses=" + s.misses()
          + "\nindex-load-ns=" + s.indexLoad().toNanos() + "\nuptime-ns=" + s.uptime().toNanos() + "\npid=" + s.pid()
          + "\nstate-dir=" + s.stateDirectory() + "\n";
      return tagged('T', text.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public Response decode(byte[] bytes) throws IOException {
      byte[] body = body(bytes);
      try {
        switch (tag(bytes)) {
          case 'K': {
            String text = new String(body, StandardCharsets.US_ASCII);
            if (text.isEmpty() || (text.charAt(0) != '+' && text.charAt(0) != '=')) {
              throw new IOException("a stored answer starts with + or =");
            }
            return new Stored(text.substring(1), text.charAt(0) == '+');
          }
          case 'B': return new Found(body);
          case 'N': return new NotFound(new String(body, StandardCharsets.US_ASCII));
          case 'D': return new Damaged(Codec.utf8().decode(body));
          case 'T': return statistics(Codec.utf8().decode(body));
          default: throw new IOException("unknown answer '" + (char) bytes[0] + "': expected K, B, N, D or T");
        }
      } catch (IllegalArgumentException e) {
        throw new IOException(e.getMessage(), e);
      }
    }

    @Override
    public String toString() {
      return "CacheProtocol.RESPONSES";
    }
  };

  private static Statistics statistics(String text) throws IOException {
    Map<String, String> fields = new LinkedHashMap<>();
    for (String line : text.split("\n")) {
      int eq = line.indexOf('=');
      if (eq <= 0) {
        throw new IOException("a statistics line is name=value, got '" + line + "'");
      }
      fields.put(line.substring(0, eq), line.substring(eq + 1));
    }
    try {
      return new Statistics(number(fields, "entries"), number(fields, "bytes"), number(fields, "hits"),
          number(fields, "misses"), Duration.ofNanos(number(fields, "index-load-ns")),
          Duration.ofNanos(number(fields, "uptime-ns")), number(fields, "pid"), field(fields, "state-dir"));
    } catch (NumberFormatException e) {
      throw new IOException("a statistics value is not a number: " + e.getMessage(), e);
    }
  }

  private static long number(Map<String, String> fields, String name) throws IOException {
    return Long.parseLong(field(fields, name));
  }

  private static String field(Map<String, String> fields, String name) throws IOException {
    String value = fields.get(name);
    if (value == null) {
      throw new IOException("the statistics lack " + name);
    }
    return value;
  }

  private static byte[] tagged(char tag, byte[] body) {
    byte[] out = new byte[body.length + 1];
    out[0] = (byte) tag;
    System.arraycopy(body, 0, out, 1, body.length);
    return out;
  }

  private static char tag(byte[] bytes) throws IOException {
    if (bytes.length == 0) {
      throw new IOException("an empty payload: a cache message starts with a letter");
    }
    return (char) (bytes[0] & 0xff);
  }

  private static byte[] body(byte[] bytes) {
    return bytes.length == 0 ? bytes : Arrays.copyOfRange(bytes, 1, bytes.length);
  }
}
