package dev.fastbind.testsupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class CapabilityConditionTest {

  @Test
  void aMissingToolNamesItsDebianPackage() {
    assertEquals("needs socat (Debian package socat), not found in /usr/bin, /bin, /usr/sbin, /sbin", Capability.SOCAT.missing());
    assertTrue(Capability.SYSTEMD_SOCKET_ACTIVATE.missing().contains("Debian package systemd"));
  }

  @Test
  void anInstalledToolIsFoundAsAnExecutableFile() {
    assertTrue(Capability.SH.isAvailable(), "every Debian system has sh");
    assertTrue(Capability.SH.executable().isAbsolute());
  }

  @Test
  @RequiresCapability(Capability.ROOT)
  void rootIsTheEffectiveUidZero() {
    assertEquals("root", System.getProperty("user.name"));
  }
}
