/**
 * Encoder for the ErrorResponse messages that pgtls sends itself.
 *
 * @module
 */

import type { SqlStateCode } from "./sqlstate.ts";
import { writeUint32 } from "./bytes.ts";
import { ERROR_RESPONSE } from "./codes.ts";

/** Severity of an ErrorResponse that ends or refuses a connection. */
export type ErrorSeverity = "ERROR" | "FATAL" | "PANIC";

/** Fields of an ErrorResponse, written in this fixed order. */
export interface ErrorFields {
  /** How bad it is; pgtls ends the connection after FATAL. */
  readonly severity: ErrorSeverity;
  /** Five-character SQLSTATE. */
  readonly code: SqlStateCode | string;
  /** One-line primary message. */
  readonly message: string;
  /** Optional secondary message with more detail. */
  readonly detail?: string;
  /** Optional suggestion of what to do. */
  readonly hint?: string;
}

const encoder = new TextEncoder();

/** Encodes a complete ErrorResponse message, type byte and length included. */
export function encodeErrorResponse(fields: ErrorFields): Uint8Array {
  const raw = new Map<string, string>([
    ["S", fields.severity],
    ["V", fields.severity],
    ["C", fields.code],
    ["M", fields.message],
  ]);
  if (fields.detail !== undefined) raw.set("D", fields.detail);
  if (fields.hint !== undefined) raw.set("H", fields.hint);
  return encodeErrorFields(raw);
}

/** Decodes an ErrorResponse body into its fields, keyed by field type letter. */
export function decodeErrorFields(body: Uint8Array): Map<string, string> {
  const fields = new Map<string, string>();
  const decoder = new TextDecoder();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const end = body.indexOf(0, offset + 1);
    if (end < 0) break;
    fields.set(String.fromCharCode(body[offset]!), decoder.decode(body.subarray(offset + 1, end)));
    offset = end + 1;
  }
  return fields;
}

/**
 * Encodes an ErrorResponse from fields keyed by their type letter (S, V, C,
 * M, D, H, ...), written in the map's order.
 */
export function encodeErrorFields(fields: ReadonlyMap<string, string>): Uint8Array {
  const parts = [...fields].map(([type, value]) =>
    [type.charCodeAt(0), stripNul(encoder.encode(value))] as const
  );
  const bodyLength = parts.reduce((n, [, v]) => n + 1 + v.length + 1, 0) + 1;
  const out = new Uint8Array(5 + bodyLength);
  out[0] = ERROR_RESPONSE;
  writeUint32(out, 1, 4 + bodyLength);
  let offset = 5;
  for (const [type, value] of parts) {
    out[offset++] = type;
    out.set(value, offset);
    offset += value.length;
    out[offset++] = 0;
  }
  out[offset] = 0;
  return out;
}

/** A NUL inside a field would end it early and corrupt the message: drop it. */
function stripNul(bytes: Uint8Array): Uint8Array {
  return bytes.includes(0) ? bytes.filter((b) => b !== 0) : bytes;
}
