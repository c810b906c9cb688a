/**
 * Deno's way of holding a client's TLS records within 8 KiB
 * (`../node_tls_shared/client_records.ts` says why they must be): Deno 2.9's
 * `node:tls` runs rustls, ignores `setMaxSendFragment`, and makes records of
 * up to 16 KiB from each write; its socket also joins writes that queued up
 * into one (`_writev`). So the client's socket is made to write its queued
 * chunks one at a time, and the relay writes at most 8 KiB at a time, so
 * each write becomes records of at most 8 KiB.
 *
 * @module
 */

import { CLIENT_RECORD_LIMIT, type RecordCap } from "../node_tls_shared/client_records.ts";

/** Writes of at most {@link CLIENT_RECORD_LIMIT}, one at a time. */
export const splitRecords: RecordCap = (socket) => {
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
};
