/**
 * notAfter read by the small DER reader, checked against node:crypto and
 * openssl (UTCTime and GeneralizedTime).
 */

import { X509Certificate } from "node:crypto";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";
import { earliestNotAfter, pemCertificates } from "../../src/tls/x509.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";

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
    const far = `${dir}/far.pem`;
    const out = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "40000",
        "-subj",
        "/CN=far",
        "-keyout",
        `${dir}/far.key`,
        "-out",
        far,
      ],
      stderr: "null",
    }).output();
    assertEquals(out.code, 0);
    const farPem = await Deno.readTextFile(far);
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
