import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import { proxyConfig, startPgtls } from "../helpers/pgtls.ts";
import { CLIENTS_DIR, runClientProgram } from "../helpers/client_programs.ts";
import { psql } from "../helpers/clients.ts";

/** pgtls in front of the TLS test cluster, presenting `listenerCert` to clients. */
async function tlsToTls(listenerCert: { cert: string; key: string }) {
  const { dir, certs, pg } = await fixture();
  return await startPgtls(dir, {
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: listenerCert.cert, key_file: listenerCert.key },
      },
      backend: {
        address: `127.0.0.1:${pg.port}`,
        tls_enabled: true,
        ca_file: certs.dbCa,
        server_name: "db.pgtls.test",
      },
    }],
  });
}

Deno.test("SCRAM channel binding through two TLS legs fails with advice on what to do", async () => {
  const { certs } = await fixture();
  const pgtls = await tlsToTls(certs.proxy);
  try {
    // libpq's default channel_binding=prefer picks SCRAM-SHA-256-PLUS when offered.
    const result = await psql({ port: pgtls.port, caFile: certs.proxyCa }, "SELECT 1", {
      check: false,
    });
    assertEquals(result.code, 2);
    assertMatch(result.stderr, /SCRAM channel binding check failed/);
    assertMatch(result.stderr, /configure auth in pgtls/);
    assertMatch(result.stderr, /channel_binding=disable/);
    assertMatch(result.stderr, /backend's own certificate and key/);
    const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
    assertMatch(String(closed.error), /channel binding/);
    assertEquals([closed.reason, closed.level], ["channel_binding_failed", "warn"]);
    // The advice is right: without channel binding the same session works.
    const disabled = await psql(
      { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" },
      "SELECT 1",
    );
    assertEquals(disabled.stdout.trim(), "1");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("SCRAM channel binding works when pgtls presents the backend's own certificate", async () => {
  const { certs } = await fixture();
  const pgtls = await tlsToTls(certs.db);
  try {
    for (const mode of ["prefer", "require"]) {
      const result = await psql(
        { port: pgtls.port, caFile: certs.dbCa, extra: `channel_binding=${mode}` },
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
      );
      assertEquals(result.stdout.trim(), "t", `channel_binding=${mode}`);
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("TLS to a plaintext backend keeps working with channel_binding=prefer", async () => {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startPgtls(dir, {
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
      },
      backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
    }],
  });
  try {
    const result = await psql(
      { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=prefer" },
      "SELECT 1",
    );
    assertEquals(result.stdout.trim(), "1");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("without auth, clients that require channel binding cannot log in through pgtls, nor node-postgres bound through two TLS legs", async () => {
  const { dir, certs, pg } = await fixture();
  const plain = await plaintextCluster();
  const pgtls = await startPgtls(dir, {
    proxies: [
      { name: "tls", ...proxyConfig(certs, pg.port, true) },
      { name: "plain", ...proxyConfig(certs, plain.port, false) },
    ],
  });
  try {
    for (const name of ["tls", "plain"]) {
      const target = { port: pgtls.ports.get(name)!, caFile: certs.proxyCa };
      const required = await psql({ ...target, extra: "channel_binding=require" }, "SELECT 1", {
        check: false,
      });
      assertEquals(required.code, 2, `${name}: ${required.stdout}`);
    }
    // node-postgres binds when told to, and the backend behind TLS cannot match the binding.
    const bound = await runClientProgram(
      "node",
      [`${CLIENTS_DIR}/node_pg_client.mjs`, "node_pg_bound"],
      { port: pgtls.ports.get("tls")!, caFile: certs.proxyCa },
      { PGTLS_CHANNEL_BINDING: "on" },
    ).then(() => "logged in", (error: Error) => error.message);
    assertMatch(bound, /SCRAM channel binding check failed/);
    // To a plaintext backend there is nothing to bind to, and it logs in.
    const unbound = await runClientProgram(
      "node",
      [`${CLIENTS_DIR}/node_pg_client.mjs`, "node_pg_unbound"],
      { port: pgtls.ports.get("plain")!, caFile: certs.proxyCa },
      { PGTLS_CHANNEL_BINDING: "on" },
    );
    assertEquals(unbound.answer, 42);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
