/**
 * How a relay ends, the same on every adapter: the first side to end or fail
 * names the end; once one side sent end of stream the session is over, so the
 * other side is ended as soon as what was queued for it is flushed; a side
 * that cannot flush within {@link RELAY_LINGER_MS} is cut; shutdown aborts,
 * after telling the client why when it can (see `ShutdownNotice`). A session
 * whose client's last bytes were a Terminate message was ended by the client,
 * whichever side's end is seen first.
 *
 * @module
 */

import type { RelayEnd, RelayFarewell, ShutdownNotice } from "../io/types.ts";
import { TERMINATE } from "../protocol/codes.ts";

/** Terminate's length field: the message is its type byte and these four. */
const TERMINATE_LENGTH = 4;

/**
 * Whether a chunk from the client ends with a Terminate message (`X`, length
 * 4): what a client sends last when it ends its session. Looks at the last
 * byte first, so that nearly every chunk costs one comparison. Bytes that end
 * another message the same way would be taken for it; the relay only uses
 * this to name an end whose two sides race, never to change what it forwards.
 */
export function endsWithTerminate(chunk: Uint8Array): boolean {
  const n = chunk.length;
  return n >= 5 && chunk[n - 1] === TERMINATE_LENGTH && chunk[n - 2] === 0 &&
    chunk[n - 3] === 0 && chunk[n - 4] === 0 && chunk[n - 5] === TERMINATE;
}

/** After one side of a relay ends, how long flushing the other may take. */
export const RELAY_LINGER_MS = 5000;

/**
 * What a relay tells the client at shutdown. `notice` says whether there is
 * a last message; `sendLast` drops the backend, sends the message, ends the
 * client and reads away whatever it still sends, so that closing it resets
 * nothing and the message is not lost to a reset. The relay then finishes
 * when the client closes, or after the notice's `graceMs`.
 */
export interface Parting {
  readonly notice: ShutdownNotice;
  sendLast(last: Uint8Array): void;
}

/** How an adapter ends its sides when the backend has gone; see {@link RelayEnding.backendGone}. */
export interface BackendGone {
  /** The session's farewell, if it gave one. */
  readonly farewell: RelayFarewell | undefined;
  /** Whether the client has had anything from the backend (or can take nothing more). */
  readonly heard: boolean;
  /** Closes the backend at once. */
  dropBackend(): void;
  /** Ends the client after `last` (when given), calling `flushed` once all is written. */
  endClient(flushed: () => void, last?: Uint8Array): void;
}

/** The end of one relay; `release` closes both connections, once. */
export class RelayEnding {
  readonly #signal: AbortSignal;
  readonly #release: () => void;
  readonly #resolve: (end: RelayEnd) => void;
  #firstEnd: RelayEnd | null = null;
  #closedCount = 0;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #done = false;
  #backendGone = false;
  readonly #part: Parting | undefined;
  /** Shutdown sent the client its last message; the backend's doings no longer count. */
  #parting = false;
  #error: Error | undefined;
  /**
   * Set for every chunk from the client ({@link fromClient}): whether it
   * ended with Terminate ({@link endsWithTerminate}). Then the client ended the
   * session: PostgreSQL closes its side as soon as it reads the Terminate,
   * and over TLS that close can be seen before the client's own.
   */
  clientTerminated = false;

  constructor(
    signal: AbortSignal,
    release: () => void,
    resolve: (end: RelayEnd) => void,
    part?: Parting,
  ) {
    this.#signal = signal;
    this.#release = release;
    this.#resolve = resolve;
    this.#part = part;
  }

  /**
   * What every relay does with a chunk from the client before it goes to
   * the backend: note whether it ends the session, and show it to the
   * shutdown notice.
   */
  fromClient(chunk: Uint8Array): void {
    this.clientTerminated = endsWithTerminate(chunk);
    this.#part?.notice.fromClient(chunk);
  }

  /** What every relay does with a chunk it forwards to the client: show it to the shutdown notice. */
  toClient(chunk: Uint8Array): void {
    this.#part?.notice.forwarded(chunk);
  }

  /** Shutdown: the client's last message first, when it can have one, then the end. */
  readonly #onAbort = (): void => {
    if (this.#done) return;
    // A side that already ended had its say (the backend perhaps a FATAL of its own).
    const ending = this.#firstEnd !== null;
    // Recorded first: what ends while parting (the dropped backend) must not
    // name the end, nor make the client a farewell after this message.
    this.#firstEnd ??= "aborted";
    const last = ending ? null : this.#part?.notice.last() ?? null;
    if (last === null) return this.finish("aborted");
    this.#parting = true;
    this.#part!.sendLast(last);
    clearTimeout(this.#linger);
    this.#linger = setTimeout(() => this.finish("aborted"), this.#part!.notice.graceMs);
  };

  /** Starts listening for shutdown; false (and finished) when it already came. */
  start(): boolean {
    if (this.#signal.aborted) {
      this.finish("aborted");
      return false;
    }
    this.#signal.addEventListener("abort", this.#onAbort, { once: true });
    return true;
  }

  /**
   * A side that ends once shutdown has begun was ended by it: Bun reports a
   * close at once, which may come before the relay's own abort listener has
   * run.
   */
  #cause(end: RelayEnd): RelayEnd {
    return this.#signal.aborted ? "aborted" : this.#named(end);
  }

  /** After the client's Terminate, whatever ends next ends a session the client ended. */
  #named(end: RelayEnd): RelayEnd {
    return this.clientTerminated && end !== "aborted" ? "client_closed" : end;
  }

  /** The error of the failure that ended the relay (`client_error`, `backend_error`), if any. */
  get error(): Error | undefined {
    return this.#firstEnd === "client_error" || this.#firstEnd === "backend_error"
      ? this.#error
      : undefined;
  }

  /** Closes both sides now. */
  readonly finish = (end: RelayEnd): void => {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#linger);
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.#release();
    this.#firstEnd ??= this.#named(end);
    this.#resolve(this.#firstEnd);
  };

  /** The client's connection failed: the relay ends, and `error` says why. */
  readonly clientFailed = (error: Error): void => {
    if (this.#done) return;
    this.#error ??= error;
    this.finish("client_error");
  };

  /**
   * One side sent end of stream: `endOther` ends the other side and calls
   * back once what was queued for it is flushed.
   */
  ended(end: RelayEnd, endOther: (flushed: () => void) => void): () => void {
    return () => {
      // Closing both sides in finish() reports their ends again: no new timer for them.
      // While parting, the client's end must not close it before its last
      // message is out: its close, or the grace, ends the relay.
      if (this.#done || this.#parting) return;
      this.#firstEnd ??= this.#cause(end);
      endOther(() => this.finish(end));
      this.#linger ??= setTimeout(() => this.finish(end), RELAY_LINGER_MS);
    };
  }

  /**
   * The backend ended (`error` unset) or failed; acts once. If the client has
   * heard nothing from it, no end is recorded yet and the session gave a
   * farewell, the client gets the farewell's bytes before its end, and the
   * backend is dropped at once (Deno's TLS socket throws, uncaught, if it
   * reads on after a fatal alert). Otherwise a failure finishes the relay and
   * an end of stream ends the client like any other end.
   */
  backendGone(
    end: "backend_closed" | "backend_error",
    error: Error | undefined,
    sides: BackendGone,
  ): void {
    // The backend was dropped for the client's last message: an error it
    // reports now must not close the client before that message is out.
    if (this.#backendGone || this.#parting) return;
    this.#backendGone = true;
    if (error !== undefined && !this.#done) this.#error ??= error;
    // A client that sent Terminate expects nothing more: no farewell for it.
    const settled = this.#done || this.#firstEnd !== null || this.clientTerminated;
    if (sides.farewell === undefined || sides.heard || settled) {
      if (end === "backend_error") this.finish(end);
      else this.ended(end, (flushed) => sides.endClient(flushed))();
      return;
    }
    const last = sides.farewell(end, error);
    // Named before the backend is dropped: a close its dropping reports at
    // once (Bun's) must not name the end backend_closed.
    this.#firstEnd ??= this.#cause(end);
    sides.dropBackend();
    this.ended(end, (flushed) => sides.endClient(flushed, last))();
  }

  /**
   * One side's socket closed: finish once both have, or after the linger
   * time. Each side's handler counts once, however often its close is told.
   */
  closed(end: RelayEnd): () => void {
    let counted = false;
    return () => {
      if (this.#done || counted) return;
      counted = true;
      this.#firstEnd ??= this.#cause(end);
      if (++this.#closedCount === 2) this.finish(end);
      else this.#linger ??= setTimeout(() => this.finish(end), RELAY_LINGER_MS);
    };
  }
}
