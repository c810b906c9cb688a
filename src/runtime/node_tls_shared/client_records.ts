/**
 * The size of the TLS records pgtls sends a client: at most 8 KiB of
 * plaintext each, as PostgreSQL sends them, on every runtime.
 *
 * Why it matters: libpq reads with at least 8 KiB of room in its buffer
 * (`pqReadData` grows the buffer to that before every read), so a record of
 * at most 8 KiB always leaves OpenSSL whole. A 16 KiB record (the TLS
 * maximum, and what every runtime's TLS makes of a larger write) can be
 * decrypted into OpenSSL and only partly copied out; libpq's own waits check
 * `SSL_pending` first, but clients that wait on the socket themselves
 * (psycopg 3, sync and async; psycopg2's async mode; ruby-pg's async API)
 * then sleep forever with the end of a result decrypted in their process and
 * nothing left on the wire. PostgreSQL 15 never sends such a record (its
 * send buffer is 8 KiB); a proxy that does hangs those clients (CockroachDB
 * capped its records at 8 KiB for the same reason).
 *
 * How each runtime is held to it:
 * - `fragment`: the TLS engine splits records itself (OpenSSL's and
 *   BoringSSL's maximum send fragment): Node.js, and Bun's `node:tls`.
 * - `split`: Deno 2.9's `node:tls` runs rustls, ignores
 *   `setMaxSendFragment`, and makes records of up to 16 KiB from each write;
 *   its socket also joins writes that queued up into one (`_writev`). There
 *   the client's socket is made to write its queued chunks one at a time, and
 *   the relay writes at most 8 KiB at a time, so each write becomes records
 *   of at most 8 KiB.
 *
 * Bun's native sockets take the maximum send fragment directly
 * (`bun/conn.ts`). The relay asks for the cap on its client side
 * (`capRecords` of the connection's push face).
 *
 * @module
 */

import tls from "node:tls";
import type { Duplex } from "node:stream";

/** The most plaintext one TLS record to a client carries: PostgreSQL's 8 KiB. */
export const CLIENT_RECORD_LIMIT = 8192;

/** How a `node:tls` runtime keeps records within {@link CLIENT_RECORD_LIMIT}; see the module. */
export type RecordCap = "fragment" | "split";

/** A writable stream's write, as the relay calls it: false once the stream's buffer is full. */
type Write = (chunk: Uint8Array) => boolean;

/**
 * Holds `socket`'s TLS records within {@link CLIENT_RECORD_LIMIT} and returns
 * the function to write to it with. A socket that is not TLS (a listener
 * with `plaintext: allow`) is written to as it is, and so is one already
 * destroyed (Node.js's `setMaxSendFragment` would throw).
 */
export function cappedWriter(socket: Duplex, cap: RecordCap): Write {
  const write: Write = (chunk) => socket.write(chunk);
  if (!(socket instanceof tls.TLSSocket) || socket.destroyed) return write;
  if (cap === "fragment") {
    socket.setMaxSendFragment(CLIENT_RECORD_LIMIT);
    return write;
  }
  // Without `_writev`, a stream hands its queued chunks to the socket one at a time.
  (socket as unknown as { _writev: unknown })._writev = null;
  return (chunk) => {
    if (chunk.length <= CLIENT_RECORD_LIMIT) return socket.write(chunk);
    let room = true;
    for (let start = 0; start < chunk.length; start += CLIENT_RECORD_LIMIT) {
      room = socket.write(chunk.subarray(start, start + CLIENT_RECORD_LIMIT));
    }
    return room;
  };
}
