/**
 * Incremental reader of the first packet of a PostgreSQL connection.
 *
 * Bytes are pushed as they arrive, in any split; once a whole packet is
 * buffered the reader classifies it and hands back whatever followed it, because
 * the injection rule and direct TLS both depend on those leftover bytes.
 *
 * @module
 */

import {
  CANCEL_REQUEST_CODE,
  CANCEL_REQUEST_MAX_LENGTH,
  CANCEL_REQUEST_MIN_LENGTH,
  GSSENC_REQUEST_CODE,
  NEGOTIATION_REQUEST_LENGTH,
  PROTOCOL_MAJOR_VERSION,
  REQUEST_CODE_MAJOR,
  SSL_REQUEST_CODE,
  STARTUP_PACKET_MAX_LENGTH,
  STARTUP_PACKET_MIN_LENGTH,
  TLS_HANDSHAKE_RECORD_TYPE,
} from "./codes.ts";
import { concatBytes, EMPTY_BYTES, readUint32 } from "./bytes.ts";
import { SqlState, type SqlStateCode } from "./sqlstate.ts";

/** A classified first packet. */
export type StartupPacket =
  | { readonly kind: "ssl_request" }
  | { readonly kind: "gssenc_request" }
  | {
    readonly kind: "cancel_request";
    readonly processId: number;
    readonly secretKey: Uint8Array;
  }
  | {
    readonly kind: "startup";
    readonly majorVersion: number;
    readonly minorVersion: number;
    readonly parameters: ReadonlyMap<string, string>;
  }
  /** The connection opened with a TLS record: PostgreSQL 17's direct TLS. */
  | { readonly kind: "direct_tls" };

/** What the reader yields once a packet is complete. */
export interface StartupReadResult {
  readonly packet: StartupPacket;
  /** The packet's own bytes, exactly as received (empty for direct TLS). */
  readonly bytes: Uint8Array;
  /** Bytes received after the packet (for direct TLS: everything received). */
  readonly leftover: Uint8Array;
}

/**
 * Stable codes of the ways a first packet can be malformed. A packet length
 * out of range (`INVALID_PACKET_LENGTH`) is no packet at all: PostgreSQL
 * closes such a connection without a reply (node-postgres's connect-then-end
 * sends Terminate first, and fails on an answer), and so does pgtls; the
 * others get an ErrorResponse.
 */
export type StartupErrorCode =
  | "INVALID_PACKET_LENGTH"
  | "INVALID_LENGTH"
  | "UNKNOWN_REQUEST_CODE"
  | "UNSUPPORTED_PROTOCOL"
  | "INVALID_LAYOUT";

/** A first packet that breaks the protocol; `sqlState` is what the client is told. */
export class StartupProtocolError extends Error {
  /** Stable machine-readable code. */
  readonly code: StartupErrorCode;
  /** SQLSTATE for the ErrorResponse sent to the client. */
  readonly sqlState: SqlStateCode;

  constructor(
    code: StartupErrorCode,
    message: string,
    sqlState: SqlStateCode = SqlState.ProtocolViolation,
  ) {
    super(message);
    this.name = "StartupProtocolError";
    this.code = code;
    this.sqlState = sqlState;
  }

  /** Whether the client is told (an ErrorResponse), as PostgreSQL would tell it. */
  get answered(): boolean {
    return this.code !== "INVALID_PACKET_LENGTH";
  }
}

/**
 * Accumulates bytes until one startup packet is complete.
 *
 * @example
 * ```ts
 * const reader = new StartupReader();
 * const result = reader.push(new Uint8Array([0, 0, 0, 8, 4, 210, 22, 47]));
 * // result?.packet.kind === "ssl_request"
 * ```
 */
export class StartupReader {
  #buffer: Uint8Array = EMPTY_BYTES;

  /** How many bytes are buffered towards an unfinished packet. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /**
   * Adds received bytes. Returns the packet once it is complete, `undefined`
   * while more bytes are needed, and throws {@link StartupProtocolError} as
   * soon as the bytes cannot become a valid packet.
   */
  push(chunk: Uint8Array): StartupReadResult | undefined {
    this.#buffer = concatBytes(this.#buffer, chunk);
    const buffer = this.#buffer;
    if (buffer.length === 0) return undefined;
    if (buffer[0] === TLS_HANDSHAKE_RECORD_TYPE) {
      this.#buffer = EMPTY_BYTES;
      return { packet: { kind: "direct_tls" }, bytes: EMPTY_BYTES, leftover: buffer };
    }
    if (buffer.length < 4) return undefined;
    const length = readUint32(buffer, 0);
    if (length < STARTUP_PACKET_MIN_LENGTH || length > STARTUP_PACKET_MAX_LENGTH) {
      throw new StartupProtocolError(
        "INVALID_PACKET_LENGTH",
        `invalid startup packet length ${length} (must be ${STARTUP_PACKET_MIN_LENGTH} to ${STARTUP_PACKET_MAX_LENGTH} bytes)`,
      );
    }
    if (buffer.length >= 8) checkCode(length, readUint32(buffer, 4));
    if (buffer.length < length) return undefined;
    const bytes = buffer.subarray(0, length);
    const leftover = buffer.subarray(length);
    const packet = decodePacket(bytes);
    this.#buffer = EMPTY_BYTES;
    return { packet, bytes, leftover };
  }
}

/** Rejects a request code or length combination as early as the first 8 bytes allow. */
function checkCode(length: number, code: number): void {
  switch (code) {
    case SSL_REQUEST_CODE:
    case GSSENC_REQUEST_CODE:
      if (length !== NEGOTIATION_REQUEST_LENGTH) {
        throw new StartupProtocolError(
          "INVALID_LENGTH",
          `invalid length ${length} for ${
            code === SSL_REQUEST_CODE ? "SSLRequest" : "GSSENCRequest"
          } (must be 8)`,
        );
      }
      return;
    case CANCEL_REQUEST_CODE:
      if (length < CANCEL_REQUEST_MIN_LENGTH || length > CANCEL_REQUEST_MAX_LENGTH) {
        throw new StartupProtocolError(
          "INVALID_LENGTH",
          `invalid length ${length} for CancelRequest (must be ${CANCEL_REQUEST_MIN_LENGTH} to ${CANCEL_REQUEST_MAX_LENGTH})`,
        );
      }
      return;
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major === REQUEST_CODE_MAJOR) {
    throw new StartupProtocolError(
      "UNKNOWN_REQUEST_CODE",
      `unknown startup request code ${REQUEST_CODE_MAJOR}/${minor}`,
    );
  }
  if (major !== PROTOCOL_MAJOR_VERSION) {
    throw new StartupProtocolError(
      major < PROTOCOL_MAJOR_VERSION ? "UNSUPPORTED_PROTOCOL" : "UNKNOWN_REQUEST_CODE",
      major < PROTOCOL_MAJOR_VERSION
        ? `unsupported frontend protocol ${major}.${minor}: pgtls and PostgreSQL speak protocol 3`
        : `invalid startup packet: unknown protocol or request code ${major}.${minor}`,
      major < PROTOCOL_MAJOR_VERSION ? SqlState.FeatureNotSupported : SqlState.ProtocolViolation,
    );
  }
}

function decodePacket(bytes: Uint8Array): StartupPacket {
  const code = readUint32(bytes, 4);
  switch (code) {
    case SSL_REQUEST_CODE:
      return { kind: "ssl_request" };
    case GSSENC_REQUEST_CODE:
      return { kind: "gssenc_request" };
    case CANCEL_REQUEST_CODE:
      return {
        kind: "cancel_request",
        processId: readUint32(bytes, 8),
        secretKey: bytes.slice(12),
      };
  }
  return {
    kind: "startup",
    majorVersion: code >>> 16,
    minorVersion: code & 0xffff,
    parameters: decodeParameters(bytes.subarray(8)),
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** Decodes `name\0value\0 ... \0`; PostgreSQL refuses any other layout, and so does pgtls. */
function decodeParameters(body: Uint8Array): Map<string, string> {
  const parameters = new Map<string, string>();
  if (body.length === 0 || body[body.length - 1] !== 0) {
    throw new StartupProtocolError(
      "INVALID_LAYOUT",
      "invalid startup packet layout: expected terminator as last byte",
    );
  }
  let offset = 0;
  while (offset < body.length - 1) {
    const nameEnd = body.indexOf(0, offset);
    const valueEnd = body.indexOf(0, nameEnd + 1);
    if (nameEnd === offset || valueEnd < 0 || valueEnd === body.length - 1) {
      throw new StartupProtocolError(
        "INVALID_LAYOUT",
        "invalid startup packet layout: expected name/value pairs and a terminator",
      );
    }
    parameters.set(
      utf8.decode(body.subarray(offset, nameEnd)),
      utf8.decode(body.subarray(nameEnd + 1, valueEnd)),
    );
    offset = valueEnd + 1;
  }
  return parameters;
}
