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
 * How each runtime is held to it is a {@link RecordCap}: here
 * {@link fragmentRecords}, where the TLS engine splits records itself
 * (OpenSSL's and BoringSSL's maximum send fragment): Node.js, and Bun's
 * `node:tls`. Deno's rustls ignores that setting and is held to it by
 * splitting pgtls's writes (`../deno/split_records.ts`).
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

/** A writable stream's write, as the relay calls it: false once the stream's buffer is full. */
export type Write = (chunk: Uint8Array) => boolean;

/**
 * How a runtime's `node:tls` keeps a live TLS socket's records within
 * {@link CLIENT_RECORD_LIMIT}: the function to write to it with.
 */
export type RecordCap = (socket: tls.TLSSocket) => Write;

/** The TLS engine's own maximum send fragment (OpenSSL, BoringSSL). */
export const fragmentRecords: RecordCap = (socket) => {
  socket.setMaxSendFragment(CLIENT_RECORD_LIMIT);
  return (chunk) => socket.write(chunk);
};

/**
 * Holds `socket`'s TLS records within {@link CLIENT_RECORD_LIMIT} as `cap`
 * does, and returns the function to write to it with. A socket that is not
 * TLS (a listener with `plaintext: allow`) is written to as it is, and so is
 * one already destroyed (Node.js's `setMaxSendFragment` would throw).
 */
export function cappedWriter(socket: Duplex, cap: RecordCap): Write {
  if (!(socket instanceof tls.TLSSocket) || socket.destroyed) return (chunk) => socket.write(chunk);
  return cap(socket);
}
