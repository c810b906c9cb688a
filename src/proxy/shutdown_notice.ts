/**
 * The FATAL a client gets when shutdown cuts its session (at
 * shutdown_timeout, at a second signal, or at once when it is idle), with
 * the SQLSTATE PostgreSQL's own fast shutdown gives its clients, 57P01, which
 * applications and drivers commonly take for a server restart and drop the
 * connection for. It goes out only between two of the backend's messages
 * (`session_flow.ts` follows them); cut in the middle of one, the client gets
 * the bare end it got before. A session still waiting for its backend gets it
 * too: its client has heard nothing yet.
 *
 * @module
 */

import { encodeErrorResponse, type ErrorFields } from "../protocol/error_response.ts";
import { SqlState } from "../protocol/sqlstate.ts";

/**
 * How long a client's last message at shutdown may take: one that reads
 * takes well under that, and one that does not must not hold up the exit (a
 * second signal gives sessions a second to end).
 */
export const SHUTDOWN_GRACE_MS = 500;

/** What a client cut by shutdown is told. */
export const SHUTDOWN_FIELDS: ErrorFields = {
  severity: "FATAL",
  code: SqlState.AdminShutdown,
  message: "terminating connection because pgtls is shutting down",
};

/** {@link SHUTDOWN_FIELDS} as an ErrorResponse. */
export const SHUTDOWN_FATAL: Uint8Array = encodeErrorResponse(SHUTDOWN_FIELDS);
