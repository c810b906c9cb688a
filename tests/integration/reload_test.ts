import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { startPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";

Deno.test("SIGHUP reloads the listener certificate, and a bad file keeps the old one", async () => {
  const { dir, certs, pg } = await fixture();
  const liveCert = `${dir}/reload-live.crt`;
  const liveKey = `${dir}/reload-live.key`;
  await Deno.copyFile(certs.proxy.cert, liveCert);
  await Deno.copyFile(certs.proxy.key, liveKey);
  const pgtls = await startPgtls(dir, {
    proxies: [{
      listener: { bind_address: "127.0.0.1:0", tls: { cert_file: liveCert, key_file: liveKey } },
      backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
    }],
  });
  const verifiedBy = async (caFile: string) =>
    (await psql({ port: pgtls.port, caFile }, "SELECT 1", { check: false })).code;
  const reloadLines = () => pgtls.logs.filter((l) => /reload/.test(l.msg));
  /** Sends SIGHUP and returns the reload log line it causes. */
  const hangUp = async () => {
    const before = reloadLines().length;
    pgtls.kill("SIGHUP");
    await pgtls.waitForLog(() => reloadLines().length > before);
    return reloadLines()[before]!;
  };
  try {
    assertEquals(await verifiedBy(certs.proxyCa), 0);
    assertEquals(await verifiedBy(certs.dbCa), 2);

    // Swap in a certificate from the other CA (also valid for localhost).
    await Deno.copyFile(certs.db.cert, liveCert);
    await Deno.copyFile(certs.db.key, liveKey);
    const reloaded = await hangUp();
    assertEquals(reloaded.msg, "certificates reloaded");
    assertEquals(await verifiedBy(certs.dbCa), 0, "new sessions get the new certificate");
    assertEquals(await verifiedBy(certs.proxyCa), 2);

    // A key that does not match the certificate: nothing changes.
    await Deno.copyFile(certs.proxy.key, liveKey);
    const failed = await hangUp();
    assertEquals(failed.level, "error");
    assertMatch(
      String(failed.error),
      /proxies\[0\]\.listener\.tls: certificate and key do not work/,
    );
    assertEquals(await verifiedBy(certs.dbCa), 0, "the certificate in use is kept");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
