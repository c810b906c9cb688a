import { assert, assertEquals } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { startMockBackend } from "../helpers/mock_backend.ts";
import { startProxyTo } from "../helpers/pgtls.ts";
import { connectTls, readAll, writeAll } from "../helpers/wire.ts";
import { sslRequest, startupMessage } from "../helpers/packets.ts";
import { ACCEPT_BYTE } from "../../src/protocol/codes.ts";
import { concatAll } from "../../src/protocol/bytes.ts";

const concat = (...parts: Uint8Array[]): Uint8Array => concatAll(parts);

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function proxyRoundTrip(backendTls: boolean) {
  const { dir, certs } = await fixture();
  const startup = startupMessage({ user: "alice", database: "app" });
  const clientData = concat(startup, randomBytes(300_000));
  const backendData = randomBytes(1_000_000);
  const [dbCert, dbKey] = await Promise.all([
    Deno.readTextFile(certs.db.cert),
    Deno.readTextFile(certs.db.key),
  ]);
  let sslRequestSeen: Uint8Array | undefined;
  let received: Uint8Array | undefined;
  const backend = await startMockBackend(async (conn) => {
    if (backendTls) {
      sslRequestSeen = await conn.read(8);
      await conn.write(Uint8Array.of(ACCEPT_BYTE));
      await conn.startTls(dbCert, dbKey);
    }
    received = await conn.read(clientData.length);
    await conn.write(backendData);
    conn.end();
  });
  const pgtls = await startProxyTo({ dir, certs }, backend.port, backendTls);
  try {
    const client = await connectTls(pgtls.port, certs.proxyCa);
    const [, fromBackend] = await Promise.all([
      writeAll(client, clientData),
      readAll(client),
    ]);
    client.close();
    await Promise.all(backend.sessions);
    assertEquals(backend.sessions.length, 1);
    if (backendTls) assertEquals(sslRequestSeen, sslRequest());
    assert(received !== undefined, "backend received nothing");
    assertEquals(received!.length, clientData.length);
    assertEquals(received, clientData, "backend got the client's bytes unchanged");
    assertEquals(fromBackend.length, backendData.length);
    assertEquals(fromBackend, backendData, "client got the backend's bytes unchanged");
    const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
    assertEquals(closed.reason, "backend_closed");
    assertEquals(closed.bytes_in, clientData.length);
    assertEquals(closed.bytes_out, backendData.length);
    assertEquals(closed.user, "alice");
    assertEquals(closed.error, undefined);
  } finally {
    const code = await pgtls.stop();
    await backend.close();
    assertEquals(code, 0, "pgtls exits 0 on SIGTERM");
  }
}

Deno.test("pgtls relays exact bytes from a TLS client to a TLS backend (test_tls_to_tls_proxy)", () =>
  proxyRoundTrip(true));

Deno.test("pgtls relays exact bytes from a TLS client to a plaintext backend", () =>
  proxyRoundTrip(false));
