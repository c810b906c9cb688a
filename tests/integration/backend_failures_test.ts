import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import { startPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { freePort } from "../helpers/run.ts";
import { connectTls, readError, writeAll } from "../helpers/wire.ts";
import { errorResponse, startupMessage } from "../helpers/packets.ts";
import { startMockBackend } from "../helpers/mock_backend.ts";
import { TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";

/** Starts pgtls in front of `backend`; returns it and a psql target. */
async function proxyTo(backend: Record<string, unknown>) {
  const { dir, certs } = await fixture();
  const pgtls = await startPgtls(dir, {
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
      },
      backend,
    }],
  });
  return {
    pgtls,
    target: { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" },
  };
}

/** The ErrorResponse a wire client reads inside its TLS session with pgtls. */
async function errorInsideTls(port: number): Promise<Record<string, string>> {
  const { certs } = await fixture();
  const conn = await connectTls(port, certs.proxyCa);
  await writeAll(conn, startupMessage({ user: TEST_USER, database: TEST_DATABASE }));
  try {
    return await readError(conn);
  } finally {
    conn.close();
  }
}

Deno.test("a backend that is down gives the client FATAL 08006 naming the backend, inside TLS", async () => {
  const port = freePort();
  const { pgtls, target } = await proxyTo({ address: `127.0.0.1:${port}`, tls_enabled: false });
  try {
    const fields = await errorInsideTls(pgtls.port);
    assertEquals(fields.S, "FATAL");
    assertEquals(fields.C, "08006");
    assertMatch(fields.M!, new RegExp(`backend 127\\.0\\.0\\.1:${port}.*connection refused`));
    const result = await psql(target, "SELECT 1", { check: false });
    assertEquals(result.code, 2);
    assertMatch(
      result.stderr,
      /FATAL: +pgtls: backend 127\.0\.0\.1:\d+: could not connect: connection refused/,
    );
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("a backend without TLS while tls_enabled gives FATAL 08006 and no plaintext fallback", async () => {
  const plain = await plaintextCluster();
  const { certs } = await fixture();
  const { pgtls, target } = await proxyTo({
    address: `127.0.0.1:${plain.port}`,
    tls_enabled: true,
    ca_file: certs.dbCa,
  });
  try {
    const fields = await errorInsideTls(pgtls.port);
    assertEquals(fields.C, "08006");
    assertMatch(fields.M!, /does not accept TLS \(it answered 'N' to SSLRequest\)/);
    const result = await psql(target, "SELECT 1", { check: false });
    assertEquals(result.code, 2);
    assertMatch(result.stderr, /backend .* does not accept TLS/);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("a backend certificate for another name fails with tls_verify full, passes with ca and none", async () => {
  const { certs, pg } = await fixture();
  const backend = {
    address: `127.0.0.1:${pg.port}`,
    tls_enabled: true,
    ca_file: certs.dbCa,
    server_name: "wrong.pgtls.test",
  };
  const full = await proxyTo({ ...backend, tls_verify: "full" });
  try {
    const fields = await errorInsideTls(full.pgtls.port);
    assertEquals(fields.C, "08006");
    assertMatch(fields.M!, /backend wrong\.pgtls\.test \(127\.0\.0\.1:\d+\): TLS handshake failed/);
    assertMatch(fields.H!, /backend\.ca_file and backend\.server_name/);
    const result = await psql(full.target, "SELECT 1", { check: false });
    assertEquals(result.code, 2);
    assertMatch(result.stderr, /TLS handshake failed/);
  } finally {
    assertEquals(await full.pgtls.stop(), 0);
  }
  for (const mode of ["ca", "none"]) {
    const relaxed = await proxyTo({ ...backend, tls_verify: mode });
    try {
      const result = await psql(
        relaxed.target,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
      );
      assertEquals(result.stdout.trim(), "t", `tls_verify ${mode} connects over TLS`);
    } finally {
      assertEquals(await relaxed.pgtls.stop(), 0);
    }
  }
});

Deno.test("a backend certificate from an unknown CA fails verification with tls_verify ca, whatever the name", async () => {
  const { certs, pg } = await fixture();
  // With a name that does not match either, the name error must not hide the
  // chain error (Bun reports the name first; ca mode ignores names).
  for (const serverName of [undefined, "elsewhere.example"]) {
    const { pgtls } = await proxyTo({
      address: `127.0.0.1:${pg.port}`,
      tls_enabled: true,
      tls_verify: "ca",
      ca_file: certs.proxyCa,
      ...(serverName ? { server_name: serverName } : {}),
    });
    try {
      const fields = await errorInsideTls(pgtls.port);
      assertEquals(fields.C, "08006", `server_name ${serverName}`);
      // The chain error as OpenSSL words it; Deno, Node.js and Bun all pass it on.
      assertMatch(fields.M!, /TLS handshake failed: unable to verify the first certificate/);
      assert(!/altname|Hostname\/IP/i.test(fields.M!), `a name error: ${fields.M}`);
    } finally {
      assertEquals(await pgtls.stop(), 0);
    }
  }
});

Deno.test("a backend that accepts and hangs up at once gives the client FATAL 08006, logged as backend_error", async () => {
  const backend = await startMockBackend(() => Promise.resolve());
  const { pgtls, target } = await proxyTo({
    address: `127.0.0.1:${backend.port}`,
    tls_enabled: false,
  });
  try {
    const result = await psql(target, "SELECT 1", { check: false });
    assertEquals(result.code, 2);
    // Before: "SSL connection has been closed unexpectedly", and the session counted as ok.
    assertMatch(
      result.stderr,
      /FATAL: +pgtls: backend 127\.0\.0\.1:\d+: (closed the connection before answering|connection (lost|failed) before)/,
    );
    const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
    assertEquals(closed.reason, "backend_error");
  } finally {
    const code = await pgtls.stop();
    await backend.close();
    assertEquals(code, 0);
  }
});

Deno.test("a backend that answers SSLRequest with an error: its message reaches the client (protocol 3 and older framing)", async () => {
  const v3 = errorResponse({
    S: "FATAL",
    V: "FATAL",
    C: "08P01",
    M: "unsupported frontend protocol 1234.5679",
  });
  const old = new TextEncoder().encode("EFATAL:  unsupported frontend protocol\n\0");
  const cases = [
    [v3, /unsupported frontend protocol 1234\.5679/],
    [old, /FATAL: +unsupported frontend protocol$/],
  ] as const;
  for (const [answer, said] of cases) {
    const backend = await startMockBackend(async (conn) => {
      await conn.read(8);
      await conn.write(answer);
    });
    const { pgtls } = await proxyTo({ address: `127.0.0.1:${backend.port}`, tls_enabled: true });
    try {
      const fields = await errorInsideTls(pgtls.port);
      assertEquals(fields.C, "08006");
      assertMatch(fields.M!, /backend answered SSLRequest with an error: /);
      assertMatch(fields.M!, said);
    } finally {
      const code = await pgtls.stop();
      await backend.close();
      assertEquals(code, 0);
    }
  }
});
