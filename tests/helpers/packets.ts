/**
 * The tests' one builder of PostgreSQL wire bytes: first packets (startup,
 * SSLRequest, GSSENCRequest, CancelRequest), regular messages by type byte
 * and body, and the few messages tests send or script often, by name.
 *
 * The framing is written here from the protocol documentation, not with
 * pgtls's encoders, so that a test of an encoder compares it with something
 * it did not produce; the numbers come from `codes.ts`, which
 * `tests/unit/codes_test.ts` checks against the documentation (only the
 * joining of bytes, which knows no protocol, is pgtls's `concatAll`).
 *
 * @module
 */

import {
  AUTH_SASL,
  AUTHENTICATION,
  BACKEND_KEY_DATA,
  CANCEL_REQUEST_CODE,
  ERROR_RESPONSE,
  GSSENC_REQUEST_CODE,
  PARAMETER_STATUS,
  PROTOCOL_MAJOR_VERSION,
  QUERY,
  READY_FOR_QUERY,
  SASL_INITIAL_RESPONSE,
  SASL_RESPONSE,
  SSL_REQUEST_CODE,
  SYNC,
  TERMINATE,
} from "../../src/protocol/codes.ts";
import { concatAll } from "../../src/protocol/bytes.ts";

const encoder = new TextEncoder();

/** What a body is built from: bytes as they are, or text as UTF-8 (no NUL added). */
export type Part = Uint8Array | string;

/** Joins byte arrays and text (as UTF-8) into one array. */
export function concat(...parts: Part[]): Uint8Array<ArrayBuffer> {
  return concatAll(parts.map((part) => typeof part === "string" ? encoder.encode(part) : part));
}

/** A 32-bit big-endian integer (a negative one in two's complement). */
export function u32(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** A 16-bit big-endian integer. */
export function u16(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

/** A NUL-terminated string. */
export function cstring(text: string): Uint8Array {
  return concat(text, Uint8Array.of(0));
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

// --- first packets: a length word, a code, a body ------------------------------------------

/** A first packet with a correct length word: length, code, body. */
export function packet(code: number, ...body: Part[]): Uint8Array {
  const joined = concat(...body);
  return concat(u32(8 + joined.length), u32(code), joined);
}

/** SSLRequest: `00 00 00 08 04 d2 16 2f`. */
export function sslRequest(): Uint8Array {
  return packet(SSL_REQUEST_CODE);
}

/** GSSENCRequest: `00 00 00 08 04 d2 16 30`. */
export function gssencRequest(): Uint8Array {
  return packet(GSSENC_REQUEST_CODE);
}

/**
 * A CancelRequest for `processId`: a secret key of any length (protocol 3.2
 * allows up to 256 bytes), or a number as protocol 3.0's 4-byte key.
 */
export function cancelRequest(processId: number, secretKey: Uint8Array | number): Uint8Array {
  const key = typeof secretKey === "number" ? u32(secretKey) : secretKey;
  return packet(CANCEL_REQUEST_CODE, u32(processId), key);
}

/** Startup parameters: a record, or pairs when order, repeats or odd names matter. */
export type StartupParameters =
  | Readonly<Record<string, string>>
  | readonly (readonly [string, string | Uint8Array])[];

/** The body of a StartupMessage: `name\0value\0 … \0`. */
export function parameterBody(parameters: StartupParameters): Uint8Array {
  const pairs = Array.isArray(parameters) ? parameters : Object.entries(parameters);
  return concat(
    ...pairs.flatMap(([name, value]) => [cstring(name), value, Uint8Array.of(0)]),
    Uint8Array.of(0),
  );
}

/** A StartupMessage of protocol `major.minor` (3.0 unless told) with `parameters`. */
export function startupMessage(
  parameters: StartupParameters,
  minor = 0,
  major = PROTOCOL_MAJOR_VERSION,
): Uint8Array {
  return packet((major << 16) | minor, parameterBody(parameters));
}

/** The start of a TLS ClientHello record, as a direct-TLS client sends it. */
export function tlsClientHelloStart(): Uint8Array {
  return fromHex("16 03 01 00 c8 01 00 00 c4 03 03");
}

// --- regular messages: a type byte, a length word counting itself, a body -------------------

/** A message of `type` (a constant of `codes.ts`) whose body is `body` joined. */
export function message(type: number, ...body: Part[]): Uint8Array {
  const joined = concat(...body);
  return concat(Uint8Array.of(type), u32(4 + joined.length), joined);
}

/** Query: a simple query. */
export function query(sql: string): Uint8Array {
  return message(QUERY, cstring(sql));
}

/** Sync. */
export function sync(): Uint8Array {
  return message(SYNC);
}

/** Terminate. */
export function terminate(): Uint8Array {
  return message(TERMINATE);
}

/** SASLInitialResponse: the mechanism, the length of `data` (-1 for none), `data`. */
export function saslInitialResponse(mechanism: string, data?: Part): Uint8Array {
  if (data === undefined) return message(SASL_INITIAL_RESPONSE, cstring(mechanism), u32(-1));
  const bytes = concat(data);
  return message(SASL_INITIAL_RESPONSE, cstring(mechanism), u32(bytes.length), bytes);
}

/** SASLResponse: the client's next SASL message. */
export function saslResponse(data: Part): Uint8Array {
  return message(SASL_RESPONSE, data);
}

/** Authentication with `code` (an AUTH_ constant) and the data after it. */
export function authentication(code: number, ...data: Part[]): Uint8Array {
  return message(AUTHENTICATION, u32(code), ...data);
}

/** AuthenticationSASL offering `mechanisms`, each NUL-terminated, then a closing NUL. */
export function authenticationSasl(...mechanisms: string[]): Uint8Array {
  return authentication(AUTH_SASL, ...mechanisms.map(cstring), Uint8Array.of(0));
}

/** BackendKeyData: the process id and the secret key (a number: 4 bytes). */
export function backendKeyData(processId: number, secretKey: Uint8Array | number): Uint8Array {
  return message(
    BACKEND_KEY_DATA,
    u32(processId),
    typeof secretKey === "number" ? u32(secretKey) : secretKey,
  );
}

/** ParameterStatus: a run-time parameter's name and value. */
export function parameterStatus(name: string, value: string): Uint8Array {
  return message(PARAMETER_STATUS, cstring(name), cstring(value));
}

/** ReadyForQuery with its transaction status: "I" idle, "T" in a block, "E" failed. */
export function readyForQuery(status: "I" | "T" | "E"): Uint8Array {
  return message(READY_FOR_QUERY, status);
}

/**
 * An ErrorResponse (or, with `type` NOTICE_RESPONSE, a notice) of fields
 * keyed by their letter (S, V, C, M, D, H, ...), in the order given.
 */
export function errorResponse(
  fields: Readonly<Record<string, string>>,
  type: number = ERROR_RESPONSE,
): Uint8Array {
  return message(
    type,
    ...Object.entries(fields).map(([letter, value]) => cstring(letter + value)),
    Uint8Array.of(0),
  );
}
