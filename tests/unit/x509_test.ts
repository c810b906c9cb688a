/**
 * notAfter read by the small DER reader, checked against node:crypto and
 * openssl (UTCTime and GeneralizedTime).
 */

import { X509Certificate } from "node:crypto";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";
import { earliestNotAfter, pemCertificates } from "../../src/tls/x509.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { makeCa } from "../helpers/certs.ts";

Deno.test("earliestNotAfter agrees with X509Certificate.validTo", async () => {
  const { certPem } = await selfSignedCertificate();
  assertEquals(
    earliestNotAfter(certPem)?.getTime(),
    Date.parse(new X509Certificate(certPem).validTo),
  );
});

Deno.test("earliestNotAfter reads GeneralizedTime and takes the earliest of a bundle", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 40,000 days ends after 2049, so notAfter is a GeneralizedTime.
    const far = await makeCa(dir, "far", 40_000);
    const farPem = await Deno.readTextFile(far.cert);
    const expected = Date.parse(new X509Certificate(farPem).validTo);
    assertEquals(earliestNotAfter(farPem)?.getTime(), expected);
    const near = (await selfSignedCertificate()).certPem;
    assertEquals(pemCertificates(farPem + near).length, 2);
    assertEquals(
      earliestNotAfter(farPem + near)?.getTime(),
      Date.parse(new X509Certificate(near).validTo),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("earliestNotAfter is null without certificates and throws on garbage", () => {
  assertEquals(earliestNotAfter("no pem here"), null);
  assertThrows(() =>
    earliestNotAfter("-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n")
  );
});
