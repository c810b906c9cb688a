/**
 * The FATAL a client gets when shutdown_timeout (or a second signal) cuts its
 * session: PostgreSQL's own fast shutdown tells its clients the same, with
 * SQLSTATE 57P01, on which connection pools drop the connection and open a
 * new one. It goes out only between two of the backend's messages; cut in the
 * middle of one, the client gets the bare end it got before.
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
