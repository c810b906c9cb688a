/**
 * What `pgtls check` says of a listener's certificate and routes, and how
 * private keys are read: certificates made by openssl, names read from
 * them, chains with and without their issuer, routes that shadow others,
 * key files others may read, encrypted keys.
 */

import { parseCertificate } from "../../src/tls/certificate.ts";
import {
  distinguishedName,
  nameCovers,
  patternCovered,
  presentedHostNames,
} from "../../src/tls/names.ts";
import { chainGap } from "../../src/tls/served_chain.ts";
import { pemCertificates } from "../../src/tls/x509.ts";
import { encryptedKeyPem } from "../../src/tls/private_key.ts";
import { patternIncludes, shadowedRoutes } from "../../src/prepare/route_shadowing.ts";
import { keyAccessProblem } from "../../src/prepare/key_access.ts";
import { certificateWarnings } from "../../src/prepare/certificate_warnings.ts";
import { loadProxyMaterial, type MaterialSource } from "../../src/prepare/material.ts";
import { readConfig } from "../../src/config/parse.ts";
import { ConfigError } from "../../src/config/fields.ts";
import { decryptPrivateKey } from "../../src/runtime/node_tls_shared/key_pair.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertThrows,
} from "../helpers/assert.ts";
import { issueCertificate, makeCa } from "../helpers/certs.ts";
import { run } from "../helpers/run.ts";

const dir = await Deno.makeTempDir({ prefix: "pgtls-certificate-checks-" });
const root = await makeCa(dir, "root");
const intermediate = await issueCertificate(dir, "intermediate", root, {
  extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"],
});
const leaf = await issueCertificate(dir, "leaf", intermediate, {
  extensions: ["subjectAltName=DNS:db.example.com,DNS:*.tenants.example.com,IP:127.0.0.1"],
});
const cnOnly = await issueCertificate(dir, "cn-only.example.com", root);
const leafPem = await Deno.readTextFile(leaf.cert);
const intermediatePem = await Deno.readTextFile(intermediate.cert);
const rootPem = await Deno.readTextFile(root.cert);

function firstCertificate(pem: string) {
  return parseCertificate(pemCertificates(pem)[0]!);
}

Deno.test("presentedHostNames gives the subjectAltName's DNS names, else the common name as libpq falls back to it", async () => {
  assertEquals(presentedHostNames(firstCertificate(leafPem)), [
    "db.example.com",
    "*.tenants.example.com",
  ]);
  assertEquals(presentedHostNames(firstCertificate(await Deno.readTextFile(cnOnly.cert))), [
    "cn-only.example.com",
  ]);
  assertEquals(distinguishedName(firstCertificate(leafPem).issuer), "CN=intermediate");
});

Deno.test("nameCovers: a wildcard stands for exactly one whole leftmost label (RFC 6125)", () => {
  assert(nameCovers("db.example.com", "DB.example.com"));
  assert(nameCovers("*.example.com", "db.example.com"));
  assert(!nameCovers("*.example.com", "a.b.example.com"), "one label only");
  assert(!nameCovers("*.example.com", "example.com"));
  assert(!nameCovers("db*.example.com", "db1.example.com"), "no partial-label wildcard");
  assert(!nameCovers("*.*.example.com", "a.b.example.com"));
  assert(!nameCovers("db.example.com", "db.example.org"));
});

Deno.test("patternCovered: an exact route needs a name that covers it, a wildcard route the same wildcard", () => {
  const names = ["db.example.com", "*.tenants.example.com"];
  assert(patternCovered("db.example.com", names));
  assert(patternCovered("acme.tenants.example.com", names));
  assert(patternCovered("*.tenants.example.com", names));
  assert(!patternCovered("*.example.com", names));
  assert(!patternCovered("other.example.com", names));
  assert(!patternCovered("eu.acme.tenants.example.com", names));
});

Deno.test("chainGap finds a leaf whose issuer the file lacks, and nothing in a file that holds it or a self-signed one", () => {
  assertEquals(chainGap(leafPem), { subject: "CN=leaf", issuer: "CN=intermediate" });
  assertEquals(chainGap(leafPem + intermediatePem), null);
  assertEquals(chainGap(leafPem + intermediatePem + rootPem), null);
  assertEquals(chainGap(rootPem), null, "a self-signed certificate needs no issuer");
  // The root is in the file, but it did not issue the leaf.
  assertEquals(chainGap(leafPem + rootPem), { subject: "CN=leaf", issuer: "CN=intermediate" });
});

Deno.test("chainGap does not take a certificate of the issuer's name but another key for the issuer", async () => {
  const impostor = await makeCa(await Deno.makeTempDir({ dir }), "impostor");
  // Named as the leaf's issuer, with a key of its own (openssl writes the key identifiers).
  const other = await issueCertificate(await Deno.makeTempDir({ dir }), "intermediate", impostor, {
    extensions: [
      "basicConstraints=critical,CA:TRUE",
      "subjectKeyIdentifier=hash",
    ],
  });
  const otherPem = await Deno.readTextFile(other.cert);
  assertEquals(distinguishedName(firstCertificate(otherPem).subject), "CN=intermediate");
  assertEquals(chainGap(leafPem + otherPem), { subject: "CN=leaf", issuer: "CN=intermediate" });
});

Deno.test("patternIncludes and shadowedRoutes: an earlier pattern that matches every name of a later one shadows it", () => {
  assert(patternIncludes("*.example.com", "db.example.com"));
  assert(patternIncludes("*.example.com", "a.b.example.com"));
  assert(patternIncludes("*.example.com", "*.eu.example.com"));
  assert(patternIncludes("*.example.com", "*.example.com"));
  assert(patternIncludes("db.example.com", "db.example.com"));
  assert(!patternIncludes("*.eu.example.com", "*.example.com"));
  assert(!patternIncludes("db.example.com", "*.example.com"));
  assert(!patternIncludes("*.example.com", "example.com"));
  assert(!patternIncludes("*.example.com", "*.badexample.com"));
  const routes = [
    "*.example.com",
    "db.example.com",
    "*.eu.example.com",
    "db.example.org",
    "db.example.org",
  ];
  assertEquals(shadowedRoutes(routes), [
    { shadowed: 1, by: 0 },
    { shadowed: 2, by: 0 },
    { shadowed: 4, by: 3 },
  ]);
  assertEquals(
    shadowedRoutes(["db.example.com", "*.example.com"]),
    [],
    "the specific one first is fine",
  );
  // Where exact names win whatever their order, only a pattern of the same kind shadows.
  assertEquals(shadowedRoutes(routes, { exactBeforeWildcard: true }), [
    { shadowed: 2, by: 0 },
    { shadowed: 4, by: 3 },
  ]);
});

Deno.test("keyAccessProblem refuses group or world access, as PostgreSQL does, but lets root's key be group-readable", () => {
  assertEquals(keyAccessProblem("k", { mode: 0o600, uid: 1000 }), null);
  assertEquals(keyAccessProblem("k", { mode: 0o400, uid: 1000 }), null);
  assertEquals(keyAccessProblem("k", { mode: 0o640, uid: 0 }), null);
  assertEquals(keyAccessProblem("k", { mode: 0o440, uid: 0 }), null);
  assertMatch(
    keyAccessProblem("/etc/k.key", { mode: 0o644, uid: 0 })!,
    /^\/etc\/k\.key has group or world access \(mode 0644\): .*\(chmod 600 \/etc\/k\.key\)$/,
  );
  for (const mode of [0o640, 0o604, 0o660, 0o610]) {
    assert(keyAccessProblem("k", { mode, uid: 1000 }) !== null, mode.toString(8));
  }
  assert(keyAccessProblem("k", { mode: 0o660, uid: 0 }) !== null, "group write");
  assert(keyAccessProblem("k", { mode: 0o604, uid: 0 }) !== null, "world read");
});

Deno.test("encryptedKeyPem knows PKCS#8 and OpenSSL's Proc-Type encryption, and not a plain key", async () => {
  const plain = await Deno.readTextFile(leaf.key);
  assert(!encryptedKeyPem(plain));
  const pkcs8 = `${dir}/pkcs8.key`;
  await run("openssl", [
    "pkey",
    "-in",
    leaf.key,
    "-aes256",
    "-passout",
    "pass:s3cret",
    "-out",
    pkcs8,
  ]);
  assert(encryptedKeyPem(await Deno.readTextFile(pkcs8)));
  const legacy = `${dir}/legacy.key`;
  await run("openssl", [
    "ec",
    "-in",
    leaf.key,
    "-aes256",
    "-passout",
    "pass:s3cret",
    "-out",
    legacy,
  ]);
  const legacyPem = await Deno.readTextFile(legacy);
  assertMatch(legacyPem, /Proc-Type: 4,ENCRYPTED/);
  assert(encryptedKeyPem(legacyPem));
});

/** One proxy on `leaf` with `routes`, its key `keyFile`. */
function proxies(routes: string[], tls: Record<string, string> = {}) {
  return readConfig({
    proxies: [{
      listener: { tls: { cert_file: leaf.cert, key_file: leaf.key, ...tls } },
      backend: { address: "127.0.0.1:5432" },
      routes: routes.map((sni) => ({ sni, backend: { address: "127.0.0.1:5433" } })),
    }],
  }).proxies;
}

/** Reads files for real; permissions and decryption as the host and runtime give them. */
function source(overrides: Partial<MaterialSource> = {}): MaterialSource {
  return {
    readText: (path) => Deno.readTextFile(path),
    permissions: async (path) => {
      const info = await Deno.stat(path);
      return { mode: info.mode! & 0o7777, uid: info.uid! };
    },
    decryptKey: decryptPrivateKey,
    ...overrides,
  };
}

Deno.test("certificateWarnings names the missing issuer, each route the certificate does not cover, and each shadowed route", async () => {
  const list = proxies(["*.example.com", "db.example.com", "*.tenants.example.com"]);
  const material = await loadProxyMaterial(list[0]!, 0, source());
  const texts = certificateWarnings(list, [material], false).map((w) => w.text);
  // db.example.com after *.example.com is still chosen: an exact name comes first (routes.ts).
  assertEquals(texts.length, 3, texts.join("\n"));
  assertMatch(
    texts[0]!,
    /^proxies\[0\]\.listener\.tls\.cert_file: .*leaf\.crt holds the certificate of CN=leaf but not its issuer, CN=intermediate: .*append its certificate to the file/,
  );
  assertMatch(
    texts[1]!,
    /^proxies\[0\]\.listener\.tls\.cert_file: the certificate's names \(db\.example\.com, \*\.tenants\.example\.com\) do not cover proxies\[0\]\.routes\[0\]'s sni "\*\.example\.com"/,
  );
  assertMatch(
    texts[2]!,
    /^proxies\[0\]\.routes\[2\] \(sni "\*\.tenants\.example\.com"\) is never chosen: proxies\[0\]\.routes\[0\] \(sni "\*\.example\.com"\) comes first/,
  );
  // The chain completed, routes the certificate covers, in an order that lets each be chosen.
  const whole = `${dir}/whole.crt`;
  await Deno.writeTextFile(whole, leafPem + intermediatePem);
  const fine = proxies(["db.example.com", "*.tenants.example.com"], { cert_file: whole });
  const fineMaterial = await loadProxyMaterial(fine[0]!, 0, source());
  assertEquals(certificateWarnings(fine, [fineMaterial], false), []);
  // pgtls's own ephemeral certificate: nobody verifies it.
  assertEquals(certificateWarnings(list, [material], true).length, 1, "only the shadowed route");
});

Deno.test("with listener.tls.certificates each certificate's chain is checked, and a route is covered when any certificate covers it", async () => {
  const whole = `${dir}/whole-2.crt`;
  await Deno.writeTextFile(whole, leafPem + intermediatePem);
  const other = await issueCertificate(dir, "other", intermediate, {
    extensions: ["subjectAltName=DNS:*.example.com"],
  });
  const list = readConfig({
    proxies: [{
      listener: {
        tls: {
          certificates: [
            { cert_file: whole, key_file: leaf.key },
            { cert_file: other.cert, key_file: other.key },
          ],
        },
      },
      backend: { address: "127.0.0.1:5432" },
      routes: [{ sni: "*.example.com", backend: { address: "127.0.0.1:5433" } }],
    }],
  }).proxies;
  const material = await loadProxyMaterial(list[0]!, 0, source());
  const texts = certificateWarnings(list, [material], false).map((w) => w.text);
  assertEquals(texts.length, 1, texts.join("\n"));
  assertMatch(
    texts[0]!,
    /^proxies\[0\]\.listener\.tls\.certificates\[1\]\.cert_file: .* holds the certificate of CN=other but not its issuer, CN=intermediate/,
  );
});

Deno.test("a key file others may read is refused at its key path; a stat the host cannot make (Windows) is no refusal", async () => {
  const open = `${dir}/open.key`;
  await Deno.copyFile(leaf.key, open);
  await Deno.chmod(open, 0o644);
  const list = proxies([], { key_file: open });
  const error = await assertRejects(() => loadProxyMaterial(list[0]!, 0, source()), ConfigError);
  assertMatch(
    error.message,
    /^proxies\[0\]\.listener\.tls\.key_file: .*open\.key has group or world access \(mode 0644\)/,
  );
  await loadProxyMaterial(list[0]!, 0, source({ permissions: () => Promise.resolve(null) }));
  await Deno.chmod(open, 0o600);
  await loadProxyMaterial(list[0]!, 0, source());
});

Deno.test("an encrypted key is named as such without key_passphrase_file, decrypted with it, and a wrong passphrase named", async () => {
  const encrypted = `${dir}/encrypted.key`;
  await run("openssl", [
    "pkey",
    "-in",
    leaf.key,
    "-aes256",
    "-passout",
    "pass:s3cret",
    "-out",
    encrypted,
  ]);
  const unnamed = proxies([], { key_file: encrypted });
  const error = await assertRejects(() => loadProxyMaterial(unnamed[0]!, 0, source()), ConfigError);
  assertMatch(
    error.message,
    /^proxies\[0\]\.listener\.tls\.key_file: .*encrypted\.key holds an encrypted private key: give its passphrase in proxies\[0\]\.listener\.tls\.key_passphrase_file/,
  );
  const passphrase = `${dir}/passphrase`;
  await Deno.writeTextFile(passphrase, "s3cret\n", { mode: 0o600 });
  await Deno.chmod(passphrase, 0o600);
  const named = proxies([], { key_file: encrypted, key_passphrase_file: passphrase });
  const material = await loadProxyMaterial(named[0]!, 0, source());
  assert(!encryptedKeyPem(material.listener.keyPem));
  assertMatch(material.listener.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  await Deno.writeTextFile(passphrase, "wrong\n");
  const wrong = await assertRejects(() => loadProxyMaterial(named[0]!, 0, source()), ConfigError);
  assertMatch(
    wrong.message,
    /^proxies\[0\]\.listener\.tls\.key_passphrase_file: the passphrase in .*passphrase does not decrypt the key in .*encrypted\.key/,
  );
  // The passphrase is as secret as the key.
  await Deno.chmod(passphrase, 0o644);
  const open = await assertRejects(() => loadProxyMaterial(named[0]!, 0, source()), ConfigError);
  assertMatch(open.message, /key_passphrase_file: .*passphrase has group or world access/);
});

Deno.test("key_passphrase_file resolves against the config's directory, and a backend's needs its key_file", () => {
  const config = readConfig({
    proxies: [{
      listener: { tls: { cert_file: "a.crt", key_file: "a.key", key_passphrase_file: "a.pass" } },
      backend: {
        address: "127.0.0.1:5432",
        cert_file: "b.crt",
        key_file: "b.key",
        key_passphrase_file: "b.pass",
      },
    }],
  }, { baseDir: "/etc/pgtls" });
  assertEquals(config.proxies[0]!.listener.tls.keyPassphraseFile, "/etc/pgtls/a.pass");
  assertEquals(config.proxies[0]!.backend.keyPassphraseFile, "/etc/pgtls/b.pass");
  assertThrows(
    () =>
      readConfig({
        proxies: [{
          listener: { tls: { cert_file: "a.crt", key_file: "a.key" } },
          backend: { address: "127.0.0.1:5432", key_passphrase_file: "b.pass" },
        }],
      }),
    ConfigError,
    "proxies[0].backend.key_passphrase_file: is for key_file, which is not set",
  );
});
