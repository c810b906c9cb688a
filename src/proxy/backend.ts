/**
 * Opening the backend leg: TCP, then (when tls_enabled) SSLRequest, 'S' and a
 * verified TLS handshake. Every failure becomes a {@link BackendError} that
 * names the backend and says what went wrong, for the client to read.
 *
 * @module
 */

import type { ClientTlsUpgrader, Runtime, SocketOptions, TcpConn, TlsConn } from "../io/types.ts";
import type { BackendConfig } from "../config/types.ts";
import { formatAddress } from "../config/address.ts";
import { ACCEPT_BYTE, DECLINE_BYTE } from "../protocol/codes.ts";
import { encodeSslRequest } from "../protocol/requests.ts";
import { decodeErrorFields } from "../protocol/error_response.ts";
import { ERROR_RESPONSE } from "../protocol/codes.ts";
import { readUint32 } from "../protocol/bytes.ts";
import { formatDuration } from "../config/duration.ts";
import { errorText } from "../tls/error_text.ts";
import { ConnectError } from "../io/errors.ts";

/** Which step of opening the backend failed. */
export type BackendStage = "connect" | "tls_request" | "tls_handshake";

/** The backend could not be reached, refused TLS, or failed verification. */
export class BackendError extends Error {
  readonly stage: BackendStage;
  /** A suggestion for the person reading the client's error. */
  readonly hint: string | undefined;
  /** The stage ran out of connect_timeout (as opposed to failing outright). */
  readonly timedOut: boolean;

  constructor(stage: BackendStage, message: string, hint?: string, timedOut = false) {
    super(message);
    this.name = "BackendError";
    this.stage = stage;
    this.hint = hint;
    this.timedOut = timedOut;
  }
}

/**
 * The route name of a proxy's own `backend` (the one sessions get when no
 * route matches), as the metrics' `backend` label shows it.
 */
export const DEFAULT_ROUTE = "default";

/** A backend ready to dial: its config plus the prepared TLS upgrader. */
export interface BackendTarget {
  readonly config: BackendConfig;
  /** How the backend is named in logs and errors, e.g. `db.internal (10.0.0.7:5432)`. */
  readonly label: string;
  /**
   * The route that leads here, as metrics label it: the route's `sni`
   * pattern, or {@link DEFAULT_ROUTE}. Taken from the config, never from a
   * client, so the label's values are as few as the routes.
   */
  readonly route: string;
  readonly serverName: string;
  readonly tls: ClientTlsUpgrader | undefined;
}

/** Builds a target; `tls` must be given exactly when the backend uses TLS. */
export function backendTarget(
  config: BackendConfig,
  tls: ClientTlsUpgrader | undefined,
  route: string = DEFAULT_ROUTE,
): BackendTarget {
  const address = formatAddress(config.address);
  const serverName = config.serverName ?? config.address.host;
  if (config.tlsEnabled && tls === undefined) {
    throw new Error(`backend ${address} has tls_enabled but no client TLS upgrader was given`);
  }
  return {
    config,
    label: config.serverName ? `${config.serverName} (${address})` : address,
    route,
    serverName,
    tls: config.tlsEnabled ? tls : undefined,
  };
}

/**
 * Connects to the backend and negotiates TLS when configured. The whole of it
 * is bounded by the backend's connect_timeout.
 */
export async function openBackend(
  runtime: Runtime,
  target: BackendTarget,
  socket: SocketOptions,
): Promise<TcpConn | TlsConn> {
  const { config } = target;
  const timeout = formatDuration(config.connectTimeoutMs);
  const started = Date.now();
  let conn;
  try {
    conn = await runtime.connect(config.address, {
      ...socket,
      timeoutMs: config.connectTimeoutMs,
    });
  } catch (error) {
    throw new BackendError("connect", `could not connect: ${connectFailure(error, timeout)}`);
  }
  if (target.tls === undefined) return conn;

  const remaining = Math.max(1, config.connectTimeoutMs - (Date.now() - started));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, remaining);
  let stage: BackendStage = "tls_request";
  try {
    await conn.write(encodeSslRequest());
    const answer = await conn.read();
    checkSslAnswer(answer);
    stage = "tls_handshake";
    return await target.tls.upgrade(conn, target.serverName);
  } catch (error) {
    conn.close();
    if (timedOut) {
      throw new BackendError(
        stage,
        `TLS negotiation timed out (connect_timeout ${timeout})`,
        undefined,
        true,
      );
    }
    if (error instanceof BackendError) throw error;
    if (stage === "tls_handshake") {
      throw new BackendError(
        stage,
        `TLS handshake failed: ${errorText(error)}`,
        config.tlsVerify === "none"
          ? undefined
          : `check the backend's certificate against backend.ca_file and backend.server_name ("${target.serverName}")`,
      );
    }
    throw new BackendError(stage, `connection failed during SSLRequest: ${errorText(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Longest backend error text quoted back. */
const MAX_QUOTED_ERROR = 200;

/**
 * The message of an ErrorResponse a backend sent instead of answering
 * SSLRequest: protocol 3 framing ('E', length, fields), or the bare text that
 * servers older than protocol 3 send. Only printable text is quoted.
 */
function sslRequestError(answer: Uint8Array): string {
  const framed = answer.length >= 5 && readUint32(answer, 1) === answer.length - 1;
  const text = framed
    ? decodeErrorFields(answer.subarray(5)).get("M") ?? ""
    : new TextDecoder().decode(answer.subarray(1)).split("\0", 1)[0]!;
  return text.replace(/[^\x20-\x7e]+/g, " ").trim().slice(0, MAX_QUOTED_ERROR);
}

/** The backend must answer an SSLRequest with exactly one 'S' and nothing after it. */
function checkSslAnswer(answer: Uint8Array | null): asserts answer is Uint8Array {
  if (answer === null || answer.length === 0) {
    throw new BackendError("tls_request", "backend closed the connection in answer to SSLRequest");
  }
  const first = answer[0];
  if (first === ACCEPT_BYTE && answer.length === 1) return;
  if (first === ACCEPT_BYTE) {
    throw new BackendError(
      "tls_request",
      `backend sent ${
        answer.length - 1
      } unexpected byte(s) after accepting TLS, before the handshake (possible injection); session refused`,
    );
  }
  if (first === DECLINE_BYTE) {
    throw new BackendError(
      "tls_request",
      "backend does not accept TLS (it answered 'N' to SSLRequest) and backend.tls_enabled is true",
      "enable ssl on the backend server, or set backend.tls_enabled: false if plaintext to it is acceptable",
    );
  }
  if (first === ERROR_RESPONSE) {
    const said = sslRequestError(answer);
    throw new BackendError(
      "tls_request",
      `backend answered SSLRequest with an error${said ? `: ${said}` : ""}`,
    );
  }
  throw new BackendError(
    "tls_request",
    `backend answered SSLRequest with unexpected byte 0x${
      first!.toString(16).padStart(2, "0")
    }; is it a PostgreSQL server?`,
  );
}

/**
 * Why the connect failed, in words: pgtls's own connect_timeout named as
 * such, else the adapter's words for its {@link ConnectError}.
 */
export function connectFailure(error: unknown, timeout: string): string {
  if (!(error instanceof ConnectError)) return errorText(error);
  return error.code === "CONNECT_TIMEOUT"
    ? `timed out after ${timeout} (connect_timeout)`
    : error.message;
}
