import { readConfig } from "../../src/config/parse.ts";
import { configWarnings } from "../../src/proxy/config_warnings.ts";
import type { ProxyMaterial } from "../../src/proxy/material.ts";
import { selfSignedCertificate } from "../../src/tls/self_signed.ts";
import { earliestNotAfter } from "../../src/tls/x509.ts";
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

async function material(): Promise<ProxyMaterial> {
  const { certPem, keyPem } = await selfSignedCertificate();
  return { listener: { certPem, keyPem }, backends: new Map() };
}

Deno.test("configWarnings names a backend whose TLS settings go unused because tls_enabled is false", async () => {
  const plain = config({ tls_enabled: false, ca_file: "db-ca.crt" });
  const texts = configWarnings(plain.proxies, [await material()], new Date()).map((w) => w.text);
  assertEquals(texts, [
    "proxies[0].backend: ca_file set, but tls_enabled is false: pgtls reaches this backend in plaintext",
    "proxies[0].routes[0].backend: ca_file set, but tls_enabled is false: pgtls reaches this backend in plaintext",
  ]);
  const tls = config({ tls_enabled: true, ca_file: "db-ca.crt" });
  assertEquals(configWarnings(tls.proxies, [await material()], new Date()), []);
  const bare = config({ tls_enabled: false });
  assertEquals(configWarnings(bare.proxies, [await material()], new Date()), []);
});

Deno.test("configWarnings warns of a certificate near its end, and marks one past it as expired", async () => {
  const proxies = config({ tls_enabled: false }).proxies;
  const loaded = await material();
  const notAfter = earliestNotAfter(loaded.listener.certPem)!;
  const date = notAfter.toISOString().slice(0, 10);
  assertEquals(configWarnings(proxies, [loaded], new Date(notAfter.getTime() - 40 * DAY_MS)), []);
  assertEquals(configWarnings(proxies, [loaded], new Date(notAfter.getTime() - 10.5 * DAY_MS)), [{
    text: `proxies[0]: the certificate in cert.crt expires on ${date} (in 10 days)`,
    expired: false,
  }]);
  assertEquals(configWarnings(proxies, [loaded], new Date(notAfter.getTime() + DAY_MS)), [{
    text: `proxies[0]: the certificate in cert.crt expired on ${date}`,
    expired: true,
  }]);
});
