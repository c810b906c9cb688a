/**
 * Encoders for the requests pgtls sends to a backend itself.
 *
 * @module
 */

import { NEGOTIATION_REQUEST_LENGTH, SSL_REQUEST_CODE } from "./codes.ts";
import { writeUint32 } from "./bytes.ts";

/** Encodes an SSLRequest: `00 00 00 08 04 d2 16 2f`. */
export function encodeSslRequest(): Uint8Array {
  const out = new Uint8Array(NEGOTIATION_REQUEST_LENGTH);
  writeUint32(out, 0, NEGOTIATION_REQUEST_LENGTH);
  writeUint32(out, 4, SSL_REQUEST_CODE);
  return out;
}
