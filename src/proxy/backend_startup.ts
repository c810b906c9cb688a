/**
 * The hand-over between opening a backend and relaying: the client's startup
 * packet goes in, and until the backend has answered it the client has heard
 * nothing from the backend, so a backend that fails then can still be
 * reported to the client as a FATAL error rather than a bare end of stream.
 *
 * @module
 */

import type { ByteConn, RelayFarewell } from "../io/types.ts";
import { encodeErrorResponse, type ErrorFields } from "../protocol/error_response.ts";
import { SqlState } from "../protocol/sqlstate.ts";
import type { BackendTarget } from "./backend.ts";
import { SessionAbort } from "./session_end.ts";
import { errorText } from "../tls/error_text.ts";

/**
 * The session's end when the backend fails before answering. `error` is the
 * connection's own, when it failed rather than closed: with a client
 * certificate configured, that is how a TLS 1.3 backend refusing it shows.
 */
function failure(target: BackendTarget, cause: string, error?: unknown): SessionAbort {
  const detail = error === undefined ? cause : `${cause}: ${errorText(error)}`;
  const reply: ErrorFields = {
    severity: "FATAL",
    code: SqlState.ConnectionFailure,
    message: `pgtls: backend ${target.label}: ${detail}`,
    hint: error !== undefined && target.config.certFile !== undefined
      ? "the backend may have refused pgtls's client certificate (backend.cert_file): see its log"
      : undefined,
  };
  return new SessionAbort("backend_error", detail, reply);
}

/** Writes the client's startup packet (and whatever followed it) to the backend. */
export async function sendStartup(
  backend: ByteConn,
  first: Uint8Array,
  target: BackendTarget,
): Promise<void> {
  try {
    await backend.write(first);
  } catch (error) {
    throw failure(target, "connection lost before the startup packet was sent", error);
  }
}

/**
 * What the relay tells the client when the backend ends before the client
 * heard from it (TLS 1.3 included: a backend that rejects pgtls's client
 * certificate says so only after pgtls's side of the handshake is complete).
 * `ended` hears the session's end and its cause.
 */
export function backendFarewell(
  target: BackendTarget,
  ended: (abort: SessionAbort) => void,
  /** What the backend had done: answered nothing yet, or accepted pgtls's login (`auth`). */
  stage: "startup" | "login" = "startup",
): RelayFarewell {
  const [closed, failed] = stage === "startup"
    ? [
      "closed the connection before answering the startup packet",
      "connection failed before the backend answered the startup packet",
    ]
    : [
      "closed the connection after accepting the login, before the session was ready",
      "connection failed after the backend accepted the login",
    ];
  return (_end, error) => {
    const abort = error === undefined ? failure(target, closed) : failure(target, failed, error);
    ended(abort);
    return encodeErrorResponse(abort.reply!);
  };
}
