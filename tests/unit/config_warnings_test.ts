import { readConfig } from "../../src/config/parse.ts";
import { configWarnings, runtimeWarnings } from "../../src/prepare/config_warnings.ts";
import type { ProxyMaterial } from "../../src/proxy/prepared.ts";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";
import { earliestNotAfter } from "../../src/tls/x509.ts";
import { bitString, oid, pem, sequence, smallInteger } from "../../src/tls/der.ts";
import { assertEquals } from "../helpers/assert.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** One proxy whose listener certificate is `cert.crt`, with `backend` and one route to the same. */
function config(backend: Record<string, unknown>) {
  return readConfig({
    proxies: [{
      listener: { tls: { cert_file: "cert.crt", key_file: "cert.key" } },
      backend: { address: "127.0.0.1:5432", ...backend },
      routes: [{ sni: "db.example", backend: { address: "127.0.0.1:5433", ...backend } }],
    }],
  });
}

/** The listener's certificate, and `caPem` as every backend's CA file. */
async function material(
  proxy: ReturnType<typeof config>["proxies"][0],
  caPem?: string,
): Promise<ProxyMaterial> {
  const { certPem, keyPem } = await selfSignedCertificate();
  const backends = new Map(
    [proxy.backend, ...proxy.routes.map((r) => r.backend)].map((b) => [b, { caPem }]),
  );
  return { listener: { certPem, keyPem }, backends, auth: new Map() };
}

const texts = (warnings: { text: string }[]) => warnings.map((w) => w.text);

Deno.test("configWarnings names backend TLS settings that go unused: tls_enabled false, or tls_verify none", async () => {
  const plain = config({ tls_enabled: false, ca_file: "db-ca.crt" }).proxies;
  assertEquals(texts(configWarnings(plain, [await material(plain[0]!)], new Date())), [
    "proxies[0].backend: ca_file set, but tls_enabled is false: pgtls reaches this backend in plaintext",
    "proxies[0].routes[0].backend: ca_file set, but tls_enabled is false: pgtls reaches this backend in plaintext",
  ]);
  const unverified =
    config({ tls_enabled: true, tls_verify: "none", ca_file: "db-ca.crt" }).proxies;
  assertEquals(
    texts(configWarnings(unverified, [await material(unverified[0]!)], new Date()))[0],
    "proxies[0].backend: ca_file set, but tls_verify is none: the backend's certificate is not verified",
  );
  for (const fine of [{ tls_enabled: true, ca_file: "db-ca.crt" }, { tls_enabled: false }]) {
    const proxies = config(fine).proxies;
    assertEquals(configWarnings(proxies, [await material(proxies[0]!)], new Date()), []);
  }
});

Deno.test("configWarnings warns of a certificate near its end; only one pgtls presents counts as expired", async () => {
  const proxies = config({ tls_enabled: true, ca_file: "db-ca.crt" }).proxies;
  const ca = (await selfSignedCertificate("db ca", 400)).certPem;
  const loaded = await material(proxies[0]!, ca);
  const listenerEnd = earliestNotAfter(loaded.listener.certPem)!;
  const date = listenerEnd.toISOString().slice(0, 10);
  const at = (offsetDays: number) => new Date(listenerEnd.getTime() + offsetDays * DAY_MS);
  assertEquals(configWarnings(proxies, [loaded], at(-40)), []);
  assertEquals(configWarnings(proxies, [loaded], at(-10.5)), [{
    text:
      `proxies[0].listener.tls.cert_file: the certificate in cert.crt expires on ${date} (in 10 days)`,
    expired: false,
  }]);
  assertEquals(configWarnings(proxies, [loaded], at(1)), [{
    text: `proxies[0].listener.tls.cert_file: the certificate in cert.crt expired on ${date}`,
    expired: true,
  }]);
  // A CA bundle past its end is named, but other roots in it may still verify: not "expired".
  const late = configWarnings(proxies, [loaded], at(60));
  assertEquals(late.map((w) => [w.text.replace(/ on .*/, ""), w.expired]), [
    ["proxies[0].listener.tls.cert_file: the certificate in cert.crt expired", true],
    ["proxies[0].backend.ca_file: a certificate in db-ca.crt expired", false],
    ["proxies[0].routes[0].backend.ca_file: a certificate in db-ca.crt expired", false],
  ]);
});

Deno.test("configWarnings warns of each certificate of listener.tls.certificates near its end", async () => {
  const proxies = readConfig({
    proxies: [{
      listener: {
        tls: {
          certificates: [
            { cert_file: "a.crt", key_file: "a.key" },
            { cert_file: "b.crt", key_file: "b.key" },
          ],
        },
      },
      backend: { address: "127.0.0.1:5432" },
    }],
  }).proxies;
  const first = await selfSignedCertificate("a", 400);
  const second = await selfSignedCertificate("b", 20);
  const loaded: ProxyMaterial = {
    listener: { ...first, certificates: [first, second] },
    backends: new Map([[proxies[0]!.backend, {}]]),
    auth: new Map(),
  };
  const warnings = configWarnings(proxies, [loaded], new Date());
  assertEquals(warnings.map((w) => [w.text.replace(/ on .*/, ""), w.expired]), [
    ["proxies[0].listener.tls.certificates[1].cert_file: the certificate in b.crt expires", false],
  ]);
});

Deno.test("runtimeWarnings names a listener.tls.ciphers the runtime's TLS cannot apply, and nothing else", () => {
  const proxies = readConfig({
    proxies: [
      { listener: { tls: { cert_file: "a.crt", key_file: "a.key" } }, backend: { address: "h:1" } },
      {
        listener: {
          bind_address: "127.0.0.1:6433",
          tls: { cert_file: "a.crt", key_file: "a.key", ciphers: "ECDHE+AESGCM" },
        },
        backend: { address: "h:1" },
      },
    ],
  }).proxies;
  assertEquals(texts(runtimeWarnings(proxies, { library: "rustls", cipherList: false })), [
    "proxies[1].listener.tls.ciphers: has no effect on this runtime, whose TLS (rustls) takes no " +
    'cipher list: it offers its own TLS 1.2 suites (see "TLS on each runtime" in the README)',
  ]);
  assertEquals(runtimeWarnings(proxies, { library: "openssl", cipherList: true }), []);
});

Deno.test("configWarnings says when auth cannot offer channel binding for the listener's certificate", async () => {
  const proxies = readConfig({
    proxies: [{
      listener: { tls: { cert_file: "cert.crt", key_file: "cert.key" } },
      backend: { address: "127.0.0.1:5432" },
      auth: { users_file: "users.txt" },
    }],
  }).proxies;
  const withAuth = (certPem: string): ProxyMaterial => ({
    listener: { certPem, keyPem: "" },
    backends: new Map([[proxies[0]!.backend, {}]]),
    auth: new Map([[proxies[0]!.auth!, {
      users: new Map(),
      salts: { key: new Uint8Array(32), source: "secrets", iterations: 4096 },
      plaintext: new Map(),
    }]]),
  });
  // Only the signature algorithm matters: an Ed25519 one has no tls-server-end-point hash.
  const ed25519 = pem(
    "CERTIFICATE",
    sequence(sequence(smallInteger(1)), sequence(oid("1.3.101.112")), bitString(Uint8Array.of(0))),
  );
  assertEquals(texts(configWarnings(proxies, [withAuth(ed25519)], new Date())), [
    "proxies[0].listener.tls.cert_file: the certificate has no channel binding: its signature " +
    "algorithm (Ed25519, OID 1.3.101.112) has no tls-server-end-point hash pgtls can compute, so auth " +
    "offers clients SCRAM-SHA-256 without channel binding only (clients that require channel " +
    "binding cannot log in)",
  ]);
  const { certPem } = await selfSignedCertificate();
  assertEquals(configWarnings(proxies, [withAuth(certPem)], new Date()), []);
});

Deno.test("configWarnings says where a proxy with auth relays logins untouched: unlisted_users passthrough, a backend or route without auth", async () => {
  const { certPem, keyPem } = await selfSignedCertificate();
  const proxies = readConfig({
    proxies: [
      {
        listener: { tls: { cert_file: "cert.crt", key_file: "cert.key" } },
        backend: { address: "127.0.0.1:5432" },
        auth: { users_file: "users.txt", unlisted_users: "passthrough" },
      },
      {
        // Only one route has auth: the default backend and the other route do not.
        listener: {
          bind_address: "0.0.0.0:6433",
          tls: { cert_file: "cert.crt", key_file: "cert.key" },
        },
        backend: { address: "127.0.0.1:5432" },
        routes: [
          {
            sni: "a.example",
            backend: { address: "127.0.0.1:5433" },
            auth: { users_file: "a.txt" },
          },
          { sni: "b.example", backend: { address: "127.0.0.1:5434" } },
        ],
      },
      {
        // No auth anywhere: pgtls's plain relaying, nothing to warn of.
        listener: {
          bind_address: "0.0.0.0:6434",
          tls: { cert_file: "cert.crt", key_file: "cert.key" },
        },
        backend: { address: "127.0.0.1:5432" },
      },
    ],
  }).proxies;
  const loaded = proxies.map((proxy): ProxyMaterial => ({
    listener: { certPem, keyPem },
    backends: new Map(
      [proxy.backend, ...proxy.routes.map((r) => r.backend)].map((b) => [b, {}]),
    ),
    auth: new Map(
      [proxy.auth, ...proxy.routes.map((r) => r.auth)].filter((a) => a !== undefined).map((a) => [
        a!,
        {
          users: new Map(),
          salts: { key: new Uint8Array(32), source: "secrets" as const, iterations: 4096 },
          plaintext: new Map(),
        },
      ]),
    ),
  }));
  assertEquals(texts(configWarnings(proxies, loaded, new Date())), [
    "proxies[0].auth.unlisted_users: passthrough relays the logins of users pgtls does not know " +
    "to the backend untouched: a backend that trusts pgtls's address lets them in without a password",
    "proxies[1]: routes[0] has auth, but the default backend and routes[1] do not: their logins are " +
    "relayed untouched, and a backend that trusts pgtls's address lets anyone in",
  ]);
});
