/**
 * The errors adapters raise, in a runtime-independent shape: each has a
 * stable `code` the core decides by, and a message fit to show a client or a
 * log reader. Each adapter maps its runtime's errors to these where it calls
 * the runtime (connect, listen, the TLS handshake); what else it throws is a
 * fault. A refused client certificate is no error at all: it is a result of
 * the server upgrade (`ServerUpgrade` in `types.ts`).
 *
 * @module
 */

/** An error's message, whatever was thrown: the one way the core turns an error into text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `error` itself when it is an Error (a runtime may throw anything). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The string `code` of an error (a runtime's, or one of the codes here), if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Why a TCP connect failed: refused by the peer, out of `connect_timeout`
 * (pgtls's own timer), a host name that does not resolve, or otherwise (the
 * message says how).
 */
export type ConnectErrorCode =
  | "CONNECT_REFUSED"
  | "CONNECT_TIMEOUT"
  | "HOST_NOT_FOUND"
  | "CONNECT_FAILED";

/** A TCP connect that did not complete. */
export class ConnectError extends Error {
  /** Stable code. */
  readonly code: ConnectErrorCode;

  constructor(code: ConnectErrorCode, message: string) {
    super(message);
    this.name = "ConnectError";
    this.code = code;
  }

  /** A connect that did not complete within `timeoutMs` (the runtime's own timeout, if any, is longer). */
  static timeout(timeoutMs: number): ConnectError {
    return new ConnectError("CONNECT_TIMEOUT", `connection timed out after ${timeoutMs} ms`);
  }
}

/** What a system error code (errno's name) means for a connect, in words. */
const CONNECT_FAILURES: Record<string, readonly [ConnectErrorCode, string]> = {
  ECONNREFUSED: ["CONNECT_REFUSED", "connection refused"],
  ENOTFOUND: ["HOST_NOT_FOUND", "host name not found"],
  ECONNRESET: ["CONNECT_FAILED", "connection reset"],
  EHOSTUNREACH: ["CONNECT_FAILED", "host unreachable"],
  ENETUNREACH: ["CONNECT_FAILED", "network unreachable"],
  EAI_AGAIN: ["CONNECT_FAILED", "host name lookup failed"],
  ETIMEDOUT: ["CONNECT_FAILED", "connection timed out"],
  EADDRNOTAVAIL: ["CONNECT_FAILED", "address not available"],
};

/**
 * A failed connect of a runtime that names its errors by errno (`node:net`
 * on Node.js and Deno, Bun's sockets: `ECONNREFUSED`, `ENOTFOUND`) as a
 * {@link ConnectError}; `describe` words an error whose code says nothing.
 */
export function systemConnectError(
  error: unknown,
  describe: (error: unknown) => string = errorMessage,
): ConnectError {
  if (error instanceof ConnectError) return error;
  const known = CONNECT_FAILURES[errorCode(error) ?? ""];
  return known === undefined
    ? new ConnectError("CONNECT_FAILED", describe(error))
    : new ConnectError(known[0], known[1]);
}

/**
 * A TLS handshake that failed, either way: the peer's alert, a certificate
 * that did not verify, a connection closed midway. The message is the TLS
 * library's reason, without its error-queue format.
 */
export class TlsHandshakeError extends Error {
  /** Stable code. */
  readonly code = "TLS_HANDSHAKE";

  constructor(message: string) {
    super(message);
    this.name = "TlsHandshakeError";
  }
}

/** Why a listener could not bind. */
export type ListenErrorCode =
  | "ADDRESS_IN_USE"
  | "ADDRESS_NOT_AVAILABLE"
  | "PERMISSION_DENIED"
  | "LISTEN_FAILED";

/** A listening socket that could not be bound; the message says why, the same on every runtime. */
export class ListenError extends Error {
  /** Stable code. */
  readonly code: ListenErrorCode;

  constructor(code: ListenErrorCode, message: string) {
    super(message);
    this.name = "ListenError";
    this.code = code;
  }
}

/**
 * A failed bind of a runtime that names its errors by errno as a
 * {@link ListenError}: their messages differ (Bun's says only "Failed to
 * listen at 127.0.0.1"), their codes do not.
 */
export function systemListenError(error: unknown, port: number): ListenError {
  if (error instanceof ListenError) return error;
  switch (errorCode(error)) {
    case "EADDRINUSE":
      return new ListenError("ADDRESS_IN_USE", "address already in use");
    case "EADDRNOTAVAIL":
      return new ListenError("ADDRESS_NOT_AVAILABLE", "address not available on this host");
    case "EACCES":
      return new ListenError(
        "PERMISSION_DENIED",
        port < 1024 ? "permission denied (ports below 1024 need privileges)" : "permission denied",
      );
    default:
      return new ListenError("LISTEN_FAILED", errorMessage(error));
  }
}

/**
 * Why a listener could not bind, in words: the {@link ListenError}'s message,
 * or (from a runtime that does not say it that way) what its errno means.
 */
export function listenFailure(error: unknown, port: number): string {
  return systemListenError(error, port).message;
}

/** Whether a bind failed because the address is taken (a rolling restart may yet release it). */
export function addressInUse(error: unknown): boolean {
  return error instanceof ListenError && error.code === "ADDRESS_IN_USE";
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
    super(errorMessage(cause));
    this.name = "CertificateRefused";
    this.index = index;
  }
}
