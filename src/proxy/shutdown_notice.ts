/**
 * The FATAL a client gets when shutdown_timeout (or a second signal) cuts its
 * session, with the SQLSTATE PostgreSQL's own fast shutdown gives its
 * clients, 57P01, which applications and drivers commonly take for a server
 * restart and drop the connection for. It goes out only between two of the
 * backend's messages; cut in the middle of one, the client gets the bare end
 * it got before.
 *
 * @module
 */

import type { ShutdownNotice } from "../runtime/types.ts";
import { MessageBoundary } from "../protocol/message_boundary.ts";
import { encodeErrorResponse } from "../protocol/error_response.ts";
import { SqlState } from "../protocol/sqlstate.ts";

const SHUTDOWN_FATAL = encodeErrorResponse({
  severity: "FATAL",
  code: SqlState.AdminShutdown,
  message: "terminating connection because pgtls is shutting down",
});

/** One session's notice: follows the backend's messages to the client. */
export class SessionShutdownNotice implements ShutdownNotice {
  readonly #boundary = new MessageBoundary();

  forwarded(chunk: Uint8Array): void {
    this.#boundary.push(chunk);
  }

  last(): Uint8Array | null {
    return this.#boundary.atBoundary ? SHUTDOWN_FATAL : null;
  }
}
