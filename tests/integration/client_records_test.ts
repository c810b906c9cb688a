/**
 * The TLS records pgtls sends a client carry at most 8 KiB of plaintext, as
 * PostgreSQL's do: libpq reads with 8 KiB of room, and a larger record can
 * leave the end of a result decrypted inside OpenSSL, where clients that wait
 * on the socket (psycopg 3) never look (issue 20; `src/runtime/node_tls_shared/client_records.ts`).
 * A tap between the client and pgtls reads the record headers, on both ways
 * into TLS and with a TLS and a plaintext backend (whose reads come in chunks
 * of up to 64 KiB).
 *
 * @module
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import { startProxyTo } from "../helpers/pgtls.ts";
import { tapRecords } from "../helpers/record_tap.ts";
import { endSession, simpleQuery, startSession } from "../helpers/raw_session.ts";
import { connectTls } from "../helpers/wire.ts";
import { TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "../helpers/pg.ts";

/** PostgreSQL's own record size: the most plaintext one record may carry. */
const RECORD_PLAINTEXT = 8192;
/** The most a record's protection adds to its plaintext (RFC 8446 §5.2; TLS 1.2 adds less). */
const RECORD_EXPANSION = 256;

/** Results of many sizes, up to a 2 MB row: both sides of 8 and 16 KiB. */
const QUERIES: readonly [width: number, count: number][] = [
  [2434, 43],
  [100, 1000],
  [9000, 5],
  [16000, 3],
  [20000, 100],
  [2_000_000, 1],
];

/** Opens a TLS session through `port`, by SSLRequest or by direct TLS (ALPN postgresql). */
async function openTls(port: number, path: "SSLRequest" | "direct TLS"): Promise<Deno.TlsConn> {
  const { certs } = await fixture();
  if (path === "SSLRequest") return await connectTls(port, certs.proxyCa);
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port,
    caCerts: [await Deno.readTextFile(certs.proxyCa)],
    alpnProtocols: ["postgresql"],
  });
  await conn.handshake();
  return conn;
}

for (const path of ["SSLRequest", "direct TLS"] as const) {
  for (const backend of ["TLS", "plaintext"] as const) {
    Deno.test(`each TLS record pgtls sends a client carries at most 8 KiB, as PostgreSQL's do (${path}, ${backend} backend)`, async () => {
      const setup = await fixture();
      const cluster = backend === "TLS" ? setup.pg : await plaintextCluster();
      const pgtls = await startProxyTo(setup, cluster.port, backend === "TLS");
      const tap = tapRecords(pgtls.port);
      try {
        const conn = await openTls(tap.port, path);
        try {
          await startSession(conn, TEST_USER, TEST_PASSWORD, TEST_DATABASE);
          for (const [width, count] of QUERIES) {
            const rows = await simpleQuery(
              conn,
              `SELECT repeat('x', ${width}) FROM generate_series(1, ${count})`,
            );
            assertEquals(rows.length, count, `rows of ${width} bytes`);
            assert(rows.every((row) => row.length === width), `every row has ${width} bytes`);
          }
        } finally {
          await endSession(conn);
        }
        const records = tap.applicationData;
        const largest = Math.max(...records);
        // Without full records the bound below would hold whatever pgtls did.
        assert(
          records.filter((length) => length > RECORD_PLAINTEXT / 2).length > 100,
          `the results came in full records: ${records.length} records, largest ${largest}`,
        );
        assert(
          largest <= RECORD_PLAINTEXT + RECORD_EXPANSION,
          `a record of ${largest} bytes (encrypted) reached the client; at most ${RECORD_PLAINTEXT} ` +
            `bytes of plaintext, ${RECORD_PLAINTEXT + RECORD_EXPANSION} encrypted, expected`,
        );
      } finally {
        tap.close();
        await pgtls.stop();
      }
    });
  }
}
