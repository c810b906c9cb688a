/**
 * The ephemeral self-signed certificate, checked with node:crypto's X.509 parser.
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";

Deno.test("selfSignedCertificate returns PEM that X509Certificate parses", async () => {
  const { certPem, keyPem } = await selfSignedCertificate();
  assertMatch(
    certPem,
    /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n$/,
  );
  assertMatch(
    keyPem,
    /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/,
  );
  for (const line of certPem.split("\n")) assert(line.length <= 64, `PEM line too long: ${line}`);
  const cert = new X509Certificate(certPem);
  assertEquals(cert.subject, "CN=pgtls ephemeral certificate");
  assertEquals(cert.issuer, cert.subject);
});

Deno.test("selfSignedCertificate lists localhost, 127.0.0.1 and ::1 as subject alternative names", async () => {
  const cert = new X509Certificate((await selfSignedCertificate()).certPem);
  const names = (cert.subjectAltName ?? "").split(", ");
  assert(names.includes("DNS:localhost"), `no DNS:localhost in ${cert.subjectAltName}`);
  assert(
    names.includes("IP Address:127.0.0.1"),
    `no IP Address:127.0.0.1 in ${cert.subjectAltName}`,
  );
  assert(
    names.some((n) => /^IP Address:(::1|0:0:0:0:0:0:0:1)$/.test(n)),
    `no IP Address:::1 in ${cert.subjectAltName}`,
  );
  assertEquals(cert.checkHost("localhost"), "localhost");
  assertEquals(cert.checkIP("127.0.0.1"), "127.0.0.1");
});

Deno.test("selfSignedCertificate signs the certificate with its own key", async () => {
  const cert = new X509Certificate((await selfSignedCertificate()).certPem);
  assertEquals(cert.verify(cert.publicKey), true);
  assertEquals(cert.checkIssued(cert), true);
});

Deno.test("selfSignedCertificate returns the private key of the certificate", async () => {
  const { certPem, keyPem } = await selfSignedCertificate();
  const cert = new X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  assertEquals(cert.checkPrivateKey(key), true);
  assertEquals(key.asymmetricKeyType, "ec");
  assertEquals(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
});

Deno.test("selfSignedCertificate does not accept the key of another certificate", async () => {
  const first = new X509Certificate((await selfSignedCertificate()).certPem);
  const second = await selfSignedCertificate();
  assertEquals(first.checkPrivateKey(createPrivateKey(second.keyPem)), false);
  assertEquals(first.verify(new X509Certificate(second.certPem).publicKey), false);
});

Deno.test("selfSignedCertificate uses the given common name and is not a CA", async () => {
  const cert = new X509Certificate((await selfSignedCertificate("db.test", 1)).certPem);
  assertEquals(cert.subject, "CN=db.test");
  assertEquals(cert.ca, false);
});

Deno.test("selfSignedCertificate is valid from before now for the given number of days", async () => {
  const before = Date.now();
  const cert = new X509Certificate((await selfSignedCertificate("pgtls", 2)).certPem);
  const after = Date.now();
  const validFrom = new Date(cert.validFrom).getTime();
  const validTo = new Date(cert.validTo).getTime();
  assert(validFrom <= before, `valid from ${cert.validFrom}, later than creation`);
  // X.509 times have whole seconds: allow one second of rounding either side.
  const twoDays = 2 * 86_400_000;
  assert(validTo >= before + twoDays - 1000, `valid to ${cert.validTo} is under 2 days`);
  assert(validTo <= after + twoDays + 1000, `valid to ${cert.validTo} is over 2 days`);
});

Deno.test("selfSignedCertificate gives each certificate a different serial number of at most 16 bytes", async () => {
  const serials = await Promise.all(
    [1, 2, 3].map(async () =>
      new X509Certificate((await selfSignedCertificate()).certPem).serialNumber
    ),
  );
  assertEquals(new Set(serials).size, 3);
  for (const serial of serials) assertMatch(serial, /^[0-9A-F]{1,32}$/i);
});
