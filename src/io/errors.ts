/**
 * Errors the adapters raise in a runtime-independent shape.
 *
 * @module
 */

import type { TlsConn } from "./types.ts";

/** A TCP connect that did not complete in time. */
export class ConnectTimeoutError extends Error {
  /** Stable code. */
  readonly code = "CONNECT_TIMEOUT";

  constructor(timeoutMs: number) {
    super(`connection timed out after ${timeoutMs} ms`);
    this.name = "ConnectTimeoutError";
  }
}

/** A TLS handshake that failed; `code` is the runtime's, when it gave one. */
export class TlsHandshakeError extends Error {
  /** The runtime's error code, e.g. `ERR_TLS_CERT_ALTNAME_INVALID`. */
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.name = "TlsHandshakeError";
    this.code = code;
  }
}

/** The code of a handshake error that is a refused (or missing) client certificate. */
export const CLIENT_CERTIFICATE_REJECTED = "CLIENT_CERTIFICATE_REJECTED";

/**
 * A server-side handshake that completed with a client certificate that
 * `listener.tls.client_ca_file` does not accept (or with none). The
 * connection is handed over open, so that the session can tell the client
 * why in a FATAL ErrorResponse instead of a bare close; whoever catches this
 * owns `conn` and must close it without relaying a byte.
 */
export class ClientCertificateRefused extends TlsHandshakeError {
  /** The completed, unverified TLS connection. */
  readonly conn: TlsConn;

  constructor(message: string, conn: TlsConn) {
    super(message, CLIENT_CERTIFICATE_REJECTED);
    this.name = "ClientCertificateRefused";
    this.conn = conn;
  }
}

/**
 * A listener TLS setting the runtime refused while the listener's TLS was
 * being prepared; `key` names it under `listener.tls`.
 */
export class TlsSettingError extends Error {
  /** The setting, e.g. `ciphers`. */
  readonly key: "ciphers" | "client_ca_file" | `certificates[${number}]`;

  constructor(key: TlsSettingError["key"], message: string) {
    super(message);
    this.name = "TlsSettingError";
    this.key = key;
  }
}

/**
 * One of a listener's several certificates (its index in
 * `ServerTlsOptions.certificates`) could not be used: its key does not
 * belong to it, or the TLS library refused the pair.
 */
export class CertificateRefused extends Error {
  readonly index: number;

  constructor(index: number, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "CertificateRefused";
    this.index = index;
  }
}

/** `error` itself when it is an Error (a runtime may throw anything). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The runtime's string `code` of an error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Why a listener could not bind, the same on every runtime: their messages
 * differ (Bun's says only "Failed to listen at 127.0.0.1"), their codes do not.
 */
export function listenFailure(error: unknown, port: number): string {
  switch (errorCode(error)) {
    case "EADDRINUSE":
      return "address already in use";
    case "EADDRNOTAVAIL":
      return "address not available on this host";
    case "EACCES":
      return port < 1024
        ? "permission denied (ports below 1024 need privileges)"
        : "permission denied";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
