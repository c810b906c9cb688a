/**
 * Connection churn: thousands of short client connections, each a TLS
 * handshake or a failed one, must not leave memory behind in pgtls. Deno
 * 2.9's `node:tls` kept ~28 KiB of every connection when its server socket
 * had an SNICallback (pgtls's did, to learn the client's server name); with
 * several certificates pgtls reads each ClientHello itself instead.
 */

import { assert } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type PgtlsProcess, proxyConfig, startPgtls, startProxyTo } from "../helpers/pgtls.ts";
import { residentBytes } from "../helpers/rss.ts";
import { connectTls, readExactly, writeAll } from "../helpers/wire.ts";
import { sslRequest } from "../helpers/packets.ts";
import { settle } from "../helpers/settle.ts";

/** Connections per round. */
const ROUND = 1500;
const ROUNDS = 6;
/** Connections open at once. */
const PARALLEL = 8;
/** Rounds before the measured ones: Deno's heaps grow for ~4,000 connections before they settle. */
const WARM_UP_ROUNDS = 3;
/**
 * Resident growth allowed per measured connection. After the warm-up a
 * runtime's heaps and allocator still drift by a few MiB (measured over 4,500
 * connections: Deno +3 MiB, Node.js and Bun ±7); the leak this guards against
 * grew Deno by 9-28 KiB per connection.
 */
const ALLOWED_PER_CONNECTION = 4 * 1024;

/** SSLRequest, then bytes that are no ClientHello: pgtls's TLS handshake fails. */
async function failedHandshake(port: number): Promise<void> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(tcp, sslRequest());
    await readExactly(tcp, 1);
    await writeAll(tcp, new TextEncoder().encode("GARBAGE!"));
    await tcp.read(new Uint8Array(256));
  } catch {
    // pgtls closed the connection, as it should.
  } finally {
    tcp.close();
  }
}

/** A completed TLS handshake, then the client leaves before its startup packet. */
async function completedHandshake(port: number, ca: string): Promise<void> {
  const conn = await connectTls(port, ca);
  conn.close();
}

/** Waits until pgtls has logged the end of `count` sessions: every connection logs one. */
async function sessionsClosed(pgtls: PgtlsProcess, count: number): Promise<void> {
  let seen = 0;
  let checked = 0;
  const closed = () => {
    for (; checked < pgtls.logs.length; checked++) {
      if (pgtls.logs[checked]!.msg === "session closed") seen++;
    }
    return seen;
  };
  const logged = await settle(closed, (n) => n >= count, 30_000);
  assert(logged >= count, `${logged} of ${count} sessions logged their end`);
}

/** Runs the rounds of short connections against `pgtls` and asserts its memory stayed put. */
async function churn(pgtls: PgtlsProcess, ca: string): Promise<void> {
  const sizes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let next = 0;
    const worker = async () => {
      while (next < ROUND) {
        const i = next++;
        if (i % 2 === 0) await failedHandshake(pgtls.port);
        else await completedHandshake(pgtls.port, ca);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    await sessionsClosed(pgtls, ROUND * (round + 1));
    sizes.push(residentBytes(pgtls.pid));
  }
  const measured = ROUND * (ROUNDS - WARM_UP_ROUNDS);
  const growth = (sizes.at(-1) ?? 0) - (sizes[WARM_UP_ROUNDS - 1] ?? 0);
  const mib = sizes.map((s) => (s / 2 ** 20).toFixed(0)).join(" → ");
  assert(
    growth <= measured * ALLOWED_PER_CONNECTION,
    `resident memory after each round of ${ROUND}: ${mib} MiB; ` +
      `${(growth / measured / 1024).toFixed(1)} KiB per connection over the last ${measured}`,
  );
}

Deno.test("thousands of short TLS connections leave no memory behind in pgtls", async () => {
  const { dir, certs, pg } = await fixture();
  // Nothing reaches PostgreSQL: every client leaves before its startup packet.
  const pgtls = await startProxyTo({ dir, certs }, pg.port, false);
  try {
    await churn(pgtls, certs.proxyCa);
  } finally {
    await pgtls.stop();
  }
});

Deno.test("with several certificates, picked from each ClientHello, short connections leave no memory behind", async () => {
  const { dir, certs, pg } = await fixture();
  const listener = proxyConfig(certs, pg.port, false).listener as Record<string, unknown>;
  const pgtls = await startPgtls(dir, {
    proxies: [{
      ...proxyConfig(certs, pg.port, false),
      listener: {
        ...listener,
        tls: {
          certificates: [
            { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
            { cert_file: certs.db.cert, key_file: certs.db.key },
          ],
        },
      },
    }],
  });
  try {
    await churn(pgtls, certs.proxyCa);
  } finally {
    await pgtls.stop();
  }
});
