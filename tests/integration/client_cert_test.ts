import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { startPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";

Deno.test("listener.tls.client_ca_file admits clients with a certificate from that CA only", async () => {
  const { dir, certs, pg } = await fixture();
  // libpq refuses a private key that others can read.
  const key = `${dir}/client.key`;
  await Deno.copyFile(certs.proxy.key, key);
  await Deno.chmod(key, 0o600);
  const pgtls = await startPgtls(dir, {
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: {
          cert_file: certs.proxy.cert,
          key_file: certs.proxy.key,
          client_ca_file: certs.proxyCa,
        },
      },
      backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
    }],
  });
  try {
    const target = { port: pgtls.port, caFile: certs.proxyCa };
    const withCert = await psql(
      { ...target, extra: `sslcert=${certs.proxy.cert} sslkey=${key}` },
      "SELECT 7",
    );
    assertEquals(withCert.stdout.trim(), "7");
    const without = await psql(target, "SELECT 7", { check: false });
    assertEquals(without.code, 2);
    const failed = await pgtls.waitForLog((l) => l.reason === "client_tls_failed");
    assertMatch(String(failed.error), /TLS handshake with the client failed/);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
