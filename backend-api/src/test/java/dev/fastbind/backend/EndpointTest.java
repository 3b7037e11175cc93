package dev.fastbind.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class EndpointTest {

  @Test
  void unixPathTextFormRoundTrips() throws Exception {
    Endpoint e = Endpoint.unixPath(Path.of("/run/user/1000/app/cache.sock"));
    assertEquals("unix:/run/user/1000/app/cache.sock", e.toString());
    assertEquals(e, Endpoint.parse(e.toString()));
    assertEquals(e.hashCode(), Endpoint.parse(e.toString()).hashCode());
    assertEquals(Endpoint.Kind.UNIX_PATH, e.kind());
    assertEquals(Path.of("/run/user/1000/app/cache.sock"), e.path().orElseThrow());
    assertTrue(e.abstractName().isEmpty());
  }

  @Test
  void bareAbsolutePathParsesAsUnixPath() throws Exception {
    assertEquals(Endpoint.parse("unix:/tmp/x.sock"), Endpoint.parse("/tmp/x.sock"));
  }

  @Test
  void abstractNameTextFormRoundTrips() throws Exception {
    Endpoint e = Endpoint.parse("abstract:cache:1000 é");
    assertEquals(Endpoint.Kind.ABSTRACT, e.kind());
    assertEquals("cache:1000 é", e.abstractName().orElseThrow());
    assertEquals(e, Endpoint.parse(e.toString()));
    assertNotEquals(e, Endpoint.parse("unix:/cache"));
  }

  @Test
  void relativePathIsRejectedNamingTheRule() {
    BindException.InvalidEndpoint e =
        assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse("unix:run/cache.sock"));
    assertTrue(e.getMessage().contains("run/cache.sock"), e.getMessage());
    assertTrue(e.getMessage().contains("absolute"), e.getMessage());
  }

  @Test
  void pathAtTheLinuxLimitIsAcceptedAndOneByteMoreIsRejectedWithTheLimit() throws Exception {
    String atLimit = "/" + "a".repeat(Endpoint.LINUX_MAX_PATH_BYTES - 1);
    assertEquals(Endpoint.LINUX_MAX_PATH_BYTES, Endpoint.parse(atLimit).path().orElseThrow().toString().length());
    BindException.InvalidEndpoint e =
        assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse(atLimit + "a"));
    assertTrue(e.getMessage().contains("108 bytes"), e.getMessage());
    assertTrue(e.getMessage().contains("at most 107"), e.getMessage());
  }

  @Test
  void lengthIsCountedInEncodedBytesNotCharacters() {
    // 60 two-byte characters: 60 chars but 120 bytes in UTF-8
    String path = "/" + "é".repeat(60);
    BindException.InvalidEndpoint e = assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse(path));
    assertTrue(e.getMessage().contains("121 bytes"), e.getMessage());
  }

  @Test
  void nulBytesAreRejectedAndShownEscaped() {
    BindException.InvalidEndpoint e =
        assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse("unix:/tmp/a\0b"));
    assertTrue(e.getMessage().contains("%00"), e.getMessage());
    assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse("abstract:a\0b"));
  }

  @Test
  void unknownPrefixEmptyValuesAndDotSegmentsAreRejected() {
    assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse("tcp:127.0.0.1:80"));
    assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse("unix:"));
    assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse("abstract:"));
    assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse("unix:/tmp/../etc/x.sock"));
    assertThrows(BindException.InvalidEndpoint.class, () -> Endpoint.parse("unix:/"));
  }

  @Test
  void abstractNameLongerThanTheLimitIsRejected() {
    assertThrows(BindException.InvalidEndpoint.class,
        () -> Endpoint.abstractName("x".repeat(Endpoint.LINUX_MAX_PATH_BYTES + 1)));
  }

  @Test
  void withSuffixKeepsTheKindAndChecksTheLimit() throws Exception {
    assertEquals(Endpoint.parse("unix:/tmp/a.sock.ctl"), Endpoint.parse("unix:/tmp/a.sock").withSuffix(".ctl"));
    assertEquals(Endpoint.parse("abstract:a.ctl"), Endpoint.parse("abstract:a").withSuffix(".ctl"));
    Endpoint nearLimit = Endpoint.parse("/" + "a".repeat(Endpoint.LINUX_MAX_PATH_BYTES - 2));
    assertThrows(BindException.InvalidEndpoint.class, () -> nearLimit.withSuffix(".ctl"));
    assertThrows(BindException.InvalidEndpoint.class, () -> nearLimit.withSuffix("/x"));
  }
}
