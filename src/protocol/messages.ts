/**
 * Encoders and decoders of the regular protocol messages pgtls exchanges when
 * it authenticates on its own: Authentication requests, SASL and password
 * messages, and the few extended-query messages of a lookup query.
 *
 * @module
 */

import { readUint32, writeUint32 } from "./bytes.ts";
import { readCString } from "./message_scanner.ts";
import {
  AUTH_CLEARTEXT_PASSWORD,
  AUTH_MD5_PASSWORD,
  AUTH_OK,
  AUTH_SASL,
  AUTH_SASL_CONTINUE,
  AUTH_SASL_FINAL,
  AUTHENTICATION,
  BIND,
  EXECUTE,
  PARSE,
  PASSWORD_MESSAGE,
  PROTOCOL_MAJOR_VERSION,
  SASL_INITIAL_RESPONSE,
  SASL_RESPONSE,
  SYNC,
  TERMINATE,
} from "./codes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message that does not have the shape its type requires. */
export class MalformedMessage extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedMessage";
  }
}

/** One message: its type byte, then a length word covering itself and `body`. */
export function encodeMessage(type: number, ...body: Uint8Array[]): Uint8Array {
  const length = body.reduce((n, part) => n + part.length, 0);
  const out = new Uint8Array(5 + length);
  out[0] = type;
  writeUint32(out, 1, 4 + length);
  let offset = 5;
  for (const part of body) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A 32-bit big-endian integer (a negative one in two's complement). */
function int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  writeUint32(out, 0, value >>> 0);
  return out;
}

function int16(value: number): Uint8Array {
  return Uint8Array.of((value >>> 8) & 0xff, value & 0xff);
}

/** A NUL-terminated string. */
function cString(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.includes(0)) throw new RangeError("a protocol string cannot hold a NUL");
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** What an Authentication message asks for. */
export type AuthenticationRequest =
  | { readonly kind: "ok" }
  | { readonly kind: "cleartext" }
  | { readonly kind: "md5"; readonly salt: Uint8Array }
  | { readonly kind: "sasl"; readonly mechanisms: readonly string[] }
  | { readonly kind: "sasl_continue"; readonly data: Uint8Array }
  | { readonly kind: "sasl_final"; readonly data: Uint8Array }
  | { readonly kind: "other"; readonly code: number };

/** Decodes the body of an Authentication ('R') message. */
export function decodeAuthentication(body: Uint8Array): AuthenticationRequest {
  if (body.length < 4) throw new MalformedMessage("Authentication message shorter than 4 bytes");
  const code = readUint32(body, 0);
  switch (code) {
    case AUTH_OK:
      return { kind: "ok" };
    case AUTH_CLEARTEXT_PASSWORD:
      return { kind: "cleartext" };
    case AUTH_MD5_PASSWORD:
      if (body.length !== 8) throw new MalformedMessage("MD5 request without a 4-byte salt");
      return { kind: "md5", salt: body.slice(4) };
    case AUTH_SASL: {
      const mechanisms: string[] = [];
      let offset = 4;
      while (offset < body.length && body[offset] !== 0) {
        const [name, next] = readCString(body, offset);
        if (next > body.length) throw new MalformedMessage("unterminated SASL mechanism name");
        mechanisms.push(name);
        offset = next;
      }
      return { kind: "sasl", mechanisms };
    }
    case AUTH_SASL_CONTINUE:
      return { kind: "sasl_continue", data: body.slice(4) };
    case AUTH_SASL_FINAL:
      return { kind: "sasl_final", data: body.slice(4) };
    default:
      return { kind: "other", code };
  }
}

/** AuthenticationOk. */
export function encodeAuthenticationOk(): Uint8Array {
  return encodeMessage(AUTHENTICATION, int32(AUTH_OK));
}

/** AuthenticationSASL offering `mechanisms`, in preference order. */
export function encodeAuthenticationSasl(mechanisms: readonly string[]): Uint8Array {
  return encodeMessage(
    AUTHENTICATION,
    int32(AUTH_SASL),
    ...mechanisms.map(cString),
    Uint8Array.of(0),
  );
}

/** AuthenticationSASLContinue carrying the server's SASL message. */
export function encodeSaslContinue(data: Uint8Array): Uint8Array {
  return encodeMessage(AUTHENTICATION, int32(AUTH_SASL_CONTINUE), data);
}

/** AuthenticationSASLFinal carrying the server's last SASL message. */
export function encodeSaslFinal(data: Uint8Array): Uint8Array {
  return encodeMessage(AUTHENTICATION, int32(AUTH_SASL_FINAL), data);
}

/** SASLInitialResponse: the chosen mechanism and the client's first message. */
export function encodeSaslInitialResponse(mechanism: string, data: Uint8Array): Uint8Array {
  return encodeMessage(SASL_INITIAL_RESPONSE, cString(mechanism), int32(data.length), data);
}

/** SASLResponse: the client's next SASL message. */
export function encodeSaslResponse(data: Uint8Array): Uint8Array {
  return encodeMessage(SASL_RESPONSE, data);
}

/** PasswordMessage with a cleartext password or an md5 hash. */
export function encodePasswordMessage(password: string): Uint8Array {
  return encodeMessage(PASSWORD_MESSAGE, cString(password));
}

/** The body of a SASLInitialResponse. */
export interface SaslInitialResponse {
  readonly mechanism: string;
  /** The client's first message; empty when it sent none (length -1). */
  readonly data: Uint8Array;
}

/** Decodes the body of a SASLInitialResponse ('p' in answer to AuthenticationSASL). */
export function decodeSaslInitialResponse(body: Uint8Array): SaslInitialResponse {
  const end = body.indexOf(0);
  if (end < 0) throw new MalformedMessage("SASLInitialResponse without a mechanism name");
  const mechanism = decoder.decode(body.subarray(0, end));
  if (body.length < end + 5) throw new MalformedMessage("SASLInitialResponse without a length");
  const length = readUint32(body, end + 1);
  const rest = body.subarray(end + 5);
  if (length === 0xffffffff) {
    if (rest.length !== 0) throw new MalformedMessage("SASLInitialResponse has trailing bytes");
    return { mechanism, data: new Uint8Array(0) };
  }
  if (length !== rest.length) {
    throw new MalformedMessage("SASLInitialResponse length does not match its data");
  }
  return { mechanism, data: rest.slice() };
}

/** StartupMessage of protocol 3.0 with `parameters`. */
export function encodeStartupMessage(parameters: ReadonlyMap<string, string>): Uint8Array {
  const parts = [...parameters].flatMap(([name, value]) => [cString(name), cString(value)]);
  const length = parts.reduce((n, p) => n + p.length, 0) + 9;
  const out = new Uint8Array(length);
  writeUint32(out, 0, length);
  writeUint32(out, 4, PROTOCOL_MAJOR_VERSION << 16);
  let offset = 8;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Parse of an unnamed statement; parameter types left to the server. */
export function encodeParse(sql: string): Uint8Array {
  return encodeMessage(PARSE, cString(""), cString(sql), int16(0));
}

/** Bind of the unnamed statement to the unnamed portal, text parameters and results. */
export function encodeBind(parameters: readonly string[]): Uint8Array {
  const values = parameters.flatMap((value) => {
    const bytes = encoder.encode(value);
    return [int32(bytes.length), bytes];
  });
  return encodeMessage(
    BIND,
    cString(""),
    cString(""),
    int16(0),
    int16(parameters.length),
    ...values,
    int16(0),
  );
}

/** Execute of the unnamed portal, every row. */
export function encodeExecute(): Uint8Array {
  return encodeMessage(EXECUTE, cString(""), int32(0));
}

/** Sync. */
export function encodeSync(): Uint8Array {
  return encodeMessage(SYNC);
}

/** Terminate. */
export function encodeTerminate(): Uint8Array {
  return encodeMessage(TERMINATE);
}

/** The columns of a DataRow, as text; null for SQL NULL. */
export function decodeDataRow(body: Uint8Array): (string | null)[] {
  if (body.length < 2) throw new MalformedMessage("DataRow shorter than 2 bytes");
  const count = (body[0]! << 8) | body[1]!;
  const columns: (string | null)[] = [];
  let offset = 2;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > body.length) throw new MalformedMessage("DataRow cut short");
    const length = readUint32(body, offset);
    offset += 4;
    if (length === 0xffffffff) {
      columns.push(null);
      continue;
    }
    if (offset + length > body.length) throw new MalformedMessage("DataRow cut short");
    columns.push(decoder.decode(body.subarray(offset, offset + length)));
    offset += length;
  }
  return columns;
}
