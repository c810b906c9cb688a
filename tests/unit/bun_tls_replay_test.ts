/**
 * Bun's direct-TLS fallback (`bun/tls_replay.ts`) over a connection whose
 * client already ended its side before the upgrade began: a ClientHello's
 * first bytes and then end of stream, both read before the session started
 * the handshake. The upgrade must fail as a handshake whose peer went away,
 * not with an error of pgtls's own. The connection is a `BunTcpConn` over an
 * in-memory transport, so this runs on any runtime; the TLS socket is the
 * runtime's `node:tls`.
 */

import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { makeTestCertificates } from "../helpers/certs.ts";
import { BunTcpConn, type Transport } from "../../src/runtime/bun/conn.ts";
import { replayServerTls } from "../../src/runtime/bun/tls_replay.ts";
import { DEFAULT_TLS12_CIPHERS } from "../../src/tls/policy.ts";

/** A transport that takes every write and records whether it was closed. */
class MemoryTransport implements Transport {
  closed = false;
  write(bytes: Uint8Array): number {
    return this.closed ? -1 : bytes.length;
  }
  pause(): void {}
  resume(): void {}
  shutdown(): void {}
  close(): void {
    this.closed = true;
  }
  capRecords(): void {}
}

Deno.test("Bun's replayed upgrade of a client that already ended fails as a handshake cut short", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgtls-bun-replay-" });
  try {
    const certs = await makeTestCertificates(dir);
    const upgrade = replayServerTls({
      certPem: await Deno.readTextFile(certs.proxy.cert),
      keyPem: await Deno.readTextFile(certs.proxy.key),
      alpnProtocols: ["postgresql"],
      ciphers: DEFAULT_TLS12_CIPHERS,
    });
    const transport = new MemoryTransport();
    const tcp = new BunTcpConn(transport as never, { host: "127.0.0.1", port: 1 });
    // A ClientHello's record header, then the client's end of stream.
    tcp.ended();
    const error = await assertRejects(() => upgrade(tcp, Uint8Array.of(0x16, 3, 1, 0, 200)));
    assertEquals(error.message, "connection closed during the TLS handshake");
    assertEquals(transport.closed, true, "the connection is closed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
