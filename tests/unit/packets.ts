/**
 * Builders of first packets (SSLRequest, CancelRequest, StartupMessage…) for the
 * StartupReader tests, written from the protocol documentation rather than
 * from the code under test.
 *
 * @module
 */

import { concatAll } from "../../src/protocol/bytes.ts";

/** 80877103: 1234 << 16 | 5679. */
export const SSL_CODE = (1234 << 16) | 5679;
/** 80877104: 1234 << 16 | 5680. */
export const GSSENC_CODE = (1234 << 16) | 5680;
/** 80877102: 1234 << 16 | 5678. */
export const CANCEL_CODE = (1234 << 16) | 5678;

const encoder = new TextEncoder();

/** A 32-bit big-endian integer. */
export function u32(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatAll(parts);
}

/** Bytes written as hex, e.g. `"00 00 00 08"` or `"0000 0008"`. */
export function fromHex(hex: string): Uint8Array {
  const digits = hex.replace(/\s+/g, "");
  return Uint8Array.from(
    { length: digits.length / 2 },
    (_, i) => parseInt(digits.slice(2 * i, 2 * i + 2), 16),
  );
}

/** Bytes as lowercase hex without separators. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A packet with a correct length word: length, code, body. */
export function packet(code: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat(u32(8 + body.length), u32(code), body);
}

/** `00 00 00 08 04 d2 16 2f`. */
export function sslRequest(): Uint8Array {
  return packet(SSL_CODE);
}

/** `00 00 00 08 04 d2 16 30`. */
export function gssencRequest(): Uint8Array {
  return packet(GSSENC_CODE);
}

/** A CancelRequest for `processId` with any length of secret key. */
export function cancelRequest(processId: number, secretKey: Uint8Array): Uint8Array {
  return packet(CANCEL_CODE, concat(u32(processId), secretKey));
}

/** The body of a StartupMessage: `name\0value\0 … \0`. */
export function parameterBody(parameters: readonly (readonly [string, string])[]): Uint8Array {
  return concat(
    ...parameters.map(([name, value]) => encoder.encode(`${name}\0${value}\0`)),
    Uint8Array.of(0),
  );
}

/** A StartupMessage of protocol `major.minor` with the given parameters. */
export function startupMessage(
  major: number,
  minor: number,
  parameters: readonly (readonly [string, string])[],
): Uint8Array {
  return packet((major << 16) | minor, parameterBody(parameters));
}

/** The start of a TLS ClientHello record, as a direct-TLS client sends it. */
export function tlsClientHelloStart(): Uint8Array {
  return fromHex("16 03 01 00 c8 01 00 00 c4 03 03");
}
