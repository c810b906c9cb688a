/**
 * The FATAL a client gets when shutdown_timeout (or a second signal) cuts its
 * session, with the SQLSTATE PostgreSQL's own fast shutdown gives its
 * clients, 57P01, which applications and drivers commonly take for a server
 * restart and drop the connection for. It goes out only between two of the
 * backend's messages; cut in the middle of one, the client gets the bare end
 * it got before. A session still waiting for its backend gets it too: its
 * client has heard nothing yet.
 *
 * @module
 */

import type { ShutdownNotice } from "../io/types.ts";
import { MessageBoundary } from "../protocol/message_boundary.ts";
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

const SHUTDOWN_FATAL = encodeErrorResponse(SHUTDOWN_FIELDS);

/** One session's notice: follows the backend's messages to the client. */
export class SessionShutdownNotice implements ShutdownNotice {
  readonly #boundary = new MessageBoundary();
  readonly graceMs = SHUTDOWN_GRACE_MS;

  forwarded(chunk: Uint8Array): void {
    this.#boundary.push(chunk);
  }

  last(): Uint8Array | null {
    return this.#boundary.atBoundary ? SHUTDOWN_FATAL : null;
  }
}
