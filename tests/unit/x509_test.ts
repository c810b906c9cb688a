/**
 * notAfter read by the small DER reader, checked against node:crypto and
 * openssl (UTCTime and GeneralizedTime).
 */

import { X509Certificate } from "node:crypto";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";
import {
  earliestNotAfter,
  pemCertificateProblem,
  pemCertificates,
  signatureAlgorithmOid,
} from "../../src/tls/x509.ts";
import { assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";
import { makeCa } from "../helpers/certs.ts";
import { run } from "../helpers/run.ts";

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

Deno.test("pemCertificateProblem: whole certificates pass; cut-short, garbage and padded ones are named", async () => {
  const one = (await selfSignedCertificate()).certPem;
  const two = (await selfSignedCertificate()).certPem;
  assertEquals(pemCertificateProblem(one), null);
  assertEquals(pemCertificateProblem(one + two), null, "a bundle");
  assertEquals(
    pemCertificateProblem(one + two.slice(0, 300)),
    "holds a certificate with no END line after certificate 1 (cut short?)",
  );
  assertEquals(
    pemCertificateProblem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
    "certificate 1 is not a well-formed X.509 certificate (expected DER tag 0x30)",
  );
  const body = one.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  const wrap = (b64: string) => `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
  assertEquals(
    pemCertificateProblem(wrap(`${body.slice(0, 40)}!${body.slice(41)}`)),
    "certificate 1 is not valid base64",
  );
  // The same DER with three bytes after it.
  const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  const padded = new Uint8Array(der.length + 3);
  padded.set(der);
  assertMatch(
    pemCertificateProblem(wrap(btoa(String.fromCharCode(...padded)))) ?? "",
    /^certificate 1 is not a well-formed X\.509 certificate \(bytes after the certificate\)$/,
  );
});

Deno.test("signatureAlgorithmOid reads the OID openssl names", async () => {
  const { certPem } = await selfSignedCertificate();
  assertEquals(signatureAlgorithmOid(pemCertificates(certPem)[0]!), "1.2.840.10045.4.3.2");
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/leaf.key`;
    const cert = `${dir}/leaf.crt`;
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-sha384",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=leaf",
    ]);
    const der = pemCertificates(await Deno.readTextFile(cert))[0]!;
    assertEquals(signatureAlgorithmOid(der), "1.2.840.113549.1.1.12");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
