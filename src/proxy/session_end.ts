/**
 * How a session ends early, and the one wait every stage shares: pgtls
 * shutting down.
 *
 * @module
 */

import type { RelayEnd } from "../io/types.ts";
import type { ErrorFields } from "../protocol/error_response.ts";

/** Why a session ended, as logged. */
export type SessionEnd =
  | RelayEnd
  | "client_gone"
  | "handshake_timeout"
  | "client_tls_failed"
  | "client_certificate_refused"
  | "client_certificate_mismatch"
  | "plaintext_rejected"
  | "injection"
  | "protocol_violation"
  | "invalid_packet_length"
  | "direct_tls_refused"
  | "channel_binding_failed"
  | "auth_failed"
  | "auth_lookup_failed"
  | "backend_auth_failed"
  | "backend_refused"
  | "backend_unavailable"
  | "cancel_forwarded"
  | "too_many_connections"
  | "shutdown"
  /** Closed idle during the drain (FATAL 57P01), so that its pool reconnects elsewhere. */
  | "drained";

/** Ends the session early with a reason, optionally telling the client first. */
export class SessionAbort extends Error {
  constructor(
    readonly end: SessionEnd,
    message: string,
    readonly reply?: ErrorFields,
    /** A whole message to tell the client instead of `reply`: the backend's own ErrorResponse. */
    readonly replyBytes?: Uint8Array,
  ) {
    super(message);
  }
}

/**
 * `work`, or a rejection as soon as pgtls shuts down: a backend slow to
 * answer (bounded only by its connect_timeout) must not hold the shutdown
 * past shutdown_timeout. What `work` yields after that goes to `discard`.
 */
export function orShutdown<T>(
  work: Promise<T>,
  signal: AbortSignal,
  discard: (late: T) => void = () => {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new Error("pgtls is shutting down"));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) discard(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
