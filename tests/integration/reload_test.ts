import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type PgtlsProcess, spawnPgtls, startPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { freePort, run } from "../helpers/run.ts";

/** Sends SIGHUP and returns the reload log line it causes. */
async function hangUpOn(pgtls: PgtlsProcess) {
  const reloadLines = () => pgtls.logs.filter((l) => /reload/.test(l.msg));
  const before = reloadLines().length;
  pgtls.kill("SIGHUP");
  await pgtls.waitForLog(() => reloadLines().length > before);
  return reloadLines()[before]!;
}

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
  const verifiedBy = async (caFile: string) => {
    const { code, stderr } = await psql({ port: pgtls.port, caFile }, "SELECT 1", { check: false });
    // Refused for its certificate, not because pgtls went away.
    if (code !== 0) assertMatch(stderr, /certificate verify failed/);
    return code;
  };
  const hangUp = () => hangUpOn(pgtls);
  try {
    assertEquals(await verifiedBy(certs.proxyCa), 0);
    assertEquals(await verifiedBy(certs.dbCa), 2);

    // Swap in a certificate from the other CA (also valid for localhost).
    await Deno.copyFile(certs.db.cert, liveCert);
    await Deno.copyFile(certs.db.key, liveKey);
    const reloaded = await hangUp();
    assertEquals(reloaded.msg, "configuration reloaded");
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

    // A named pipe in its place: reading it would block the reload (and, on
    // Node.js, the exit) until something writes to it.
    await Deno.remove(liveCert);
    await run("mkfifo", [liveCert]);
    const blocked = await hangUp();
    assertEquals(blocked.level, "error");
    assertMatch(String(blocked.error), /not a regular file/);
    await Deno.remove(liveCert);
    await Deno.copyFile(certs.db.cert, liveCert);
    await Deno.copyFile(certs.db.key, liveKey);
    assertEquals((await hangUp()).msg, "configuration reloaded", "later reloads still run");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("SIGHUP applies a changed setting to new sessions; a change that needs a restart changes nothing", async () => {
  const { dir, certs, pg } = await fixture();
  const path = `${dir}/reload-settings.yaml`;
  const write = (plaintext: string, bindAddress = "127.0.0.1:0") =>
    Deno.writeTextFile(
      path,
      JSON.stringify({
        proxies: [{
          listener: {
            bind_address: bindAddress,
            tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
            plaintext,
          },
          backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
        }],
      }),
    );
  await write("reject");
  const pgtls = await spawnPgtls(["--config", path]);
  const withoutTls = async () => {
    const result = await psql({ port: pgtls.port, sslmode: "disable" }, "SELECT 1", {
      check: false,
    });
    if (result.code !== 0) assertMatch(result.stderr, /pgtls requires TLS/);
    return result.code;
  };
  try {
    assertEquals(await withoutTls(), 2, "plaintext is rejected");

    // Another listen address needs a restart; the plaintext change in the same file is not applied.
    await write("allow", `127.0.0.1:${freePort()}`);
    const refused = await hangUpOn(pgtls);
    assertEquals(refused.level, "error");
    assertMatch(
      String(refused.error),
      /proxies\[0\]\.listener\.bind_address: cannot change without a restart .*\(in .*reload-settings\.yaml\)/,
    );
    assertEquals(await withoutTls(), 2, "nothing changed");

    await write("allow");
    const reloaded = await hangUpOn(pgtls);
    assertEquals(reloaded.msg, "configuration reloaded");
    assertEquals(await withoutTls(), 0, "new sessions follow plaintext: allow");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
