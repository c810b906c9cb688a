/**
 * Where a relayed session stands, from the message headers going both ways:
 * idle or in a transaction (the status of the backend's last ReadyForQuery),
 * active (a Query, Sync or FunctionCall of the client's still owes its
 * ReadyForQuery) or in a COPY. It is the session's {@link ShutdownNotice}
 * too: at shutdown the client gets FATAL 57P01 only between two of the
 * backend's messages, and a draining session is closed as soon as it is idle.
 *
 * Counting the client's messages, not only the backend's, is what makes
 * "idle" safe to act on: a client that pipelines a second query before the
 * first one's ReadyForQuery is still owed an answer.
 *
 * @module
 */

import type { SessionState, ShutdownNotice } from "../io/types.ts";
import { MessageBoundary } from "../protocol/message_boundary.ts";
import {
  BIND,
  CLOSE,
  COMMAND_COMPLETE,
  COPY_BOTH_RESPONSE,
  COPY_DATA,
  COPY_DONE,
  COPY_FAIL,
  COPY_IN_RESPONSE,
  COPY_OUT_RESPONSE,
  DESCRIBE,
  ERROR_RESPONSE,
  EXECUTE,
  FUNCTION_CALL,
  PARSE,
  QUERY,
  READY_FOR_QUERY,
  SYNC,
  TRANSACTION_IDLE,
} from "../protocol/codes.ts";
import { SHUTDOWN_FATAL, SHUTDOWN_GRACE_MS } from "./shutdown_notice.ts";

/** One session's state, from the bytes the relay passes each way. */
export class SessionFlow implements ShutdownNotice {
  readonly graceMs = SHUTDOWN_GRACE_MS;
  readonly #backend = new MessageBoundary((type, first) => this.#fromBackend(type, first));
  readonly #client = new MessageBoundary((type) => this.#fromClient(type));
  /** ReadyForQuery messages the backend still owes: one for the startup, one per Query, Sync, FunctionCall. */
  #owed = 1;
  /**
   * Syncs the client sent since its last Execute or Query: if COPY FROM STDIN
   * data follows, the backend ignored them (it does in copy-in mode), so they
   * are owed nothing.
   */
  #syncsSinceExecute = 0;
  /**
   * Extended-protocol messages (or COPY data the backend took in after
   * ignoring the Syncs before it) wait for a Sync: until it, the implicit
   * transaction they run in is not committed, though nothing is owed yet.
   */
  #unsynced = false;
  /** The status byte of the last ReadyForQuery, 0 before the first. */
  #status = 0;
  #copy = false;
  #onIdle: (() => void) | undefined;
  #closedIdle = false;

  /** Sees a chunk just forwarded to the client. */
  forwarded(chunk: Uint8Array): void {
    this.#backend.push(chunk);
    // Later, not now: the relay forwards this chunk to the client after telling us of it.
    if (this.#onIdle !== undefined && this.#idle()) queueMicrotask(this.#closeIfIdle);
  }

  /** Sees a chunk from the client, before it goes to the backend. */
  fromClient(chunk: Uint8Array): void {
    this.#client.push(chunk);
  }

  /** FATAL 57P01 at a boundary of the backend's messages, else null (see {@link ShutdownNotice}). */
  last(): Uint8Array | null {
    return this.#backend.atBoundary ? SHUTDOWN_FATAL : null;
  }

  /** Where the session stands now. */
  get state(): SessionState {
    if (this.#status === 0) return "startup";
    if (this.#copy) return "copy";
    if (this.#owed > 0 || this.#unsynced) return "active";
    return this.#status === TRANSACTION_IDLE ? "idle" : "transaction";
  }

  /** True once {@link drain} closed the session because it was idle. */
  get closedIdle(): boolean {
    return this.#closedIdle;
  }

  /**
   * Calls `close` once the session is idle: now, or just after the backend's
   * next ReadyForQuery `I` with nothing more owed has gone to the client.
   */
  drain(close: () => void): void {
    this.#onIdle = () => {
      this.#onIdle = undefined;
      this.#closedIdle = true;
      close();
    };
    if (this.#idle()) this.#onIdle();
  }

  #idle(): boolean {
    return this.#status === TRANSACTION_IDLE && this.#owed === 0 && !this.#unsynced &&
      !this.#copy &&
      this.#backend.atBoundary;
  }

  #fromBackend(type: number, first: number): void {
    switch (type) {
      case READY_FOR_QUERY:
        if (this.#owed > 0) this.#owed--;
        this.#status = first;
        this.#copy = false;
        break;
      case COPY_IN_RESPONSE:
      case COPY_OUT_RESPONSE:
      case COPY_BOTH_RESPONSE:
        this.#copy = true;
        break;
      case COMMAND_COMPLETE:
      case ERROR_RESPONSE:
        this.#copy = false;
        break;
    }
  }

  readonly #closeIfIdle = (): void => {
    if (this.#onIdle && this.#idle()) this.#onIdle();
  };

  #fromClient(type: number): void {
    switch (type) {
      case QUERY:
        this.#owed++;
        this.#syncsSinceExecute = 0;
        break;
      case EXECUTE:
        this.#syncsSinceExecute = 0;
        this.#unsynced = true;
        break;
      case PARSE:
      case BIND:
      case DESCRIBE:
      case CLOSE:
        this.#unsynced = true;
        break;
      case SYNC:
        this.#owed++;
        this.#syncsSinceExecute++;
        this.#unsynced = false;
        break;
      case FUNCTION_CALL:
        this.#owed++;
        break;
      case COPY_DATA:
      case COPY_DONE:
      case COPY_FAIL:
        if (this.#syncsSinceExecute > 0) this.#unsynced = true;
        this.#owed -= this.#syncsSinceExecute;
        this.#syncsSinceExecute = 0;
        break;
    }
  }
}
