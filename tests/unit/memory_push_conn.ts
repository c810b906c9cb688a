/**
 * An in-memory connection with the push face the relay drives
 * (`PushConn`), and controls for the peer at its other end: what the peer
 * sends, when it ends, fails or closes, and how much it takes before
 * pgtls's writes queue up (then `peerReads` takes what is queued and the
 * connection drains, as a socket does).
 *
 * @module
 */

import type { ConnSink, TcpConn } from "../../src/io/types.ts";
import { concatAll } from "../../src/protocol/bytes.ts";

/** A connection in memory; the `peer*` methods act for the far end. */
export class MemoryPushConn implements TcpConn {
  readonly kind = "tcp";
  readonly remote = { host: "127.0.0.1", port: 40000 };
  onDrain: (() => void) | null = null;
  /** Chunks the peer has taken, in order. */
  readonly delivered: Uint8Array[] = [];
  /** The peer saw end of stream after everything pgtls sent (closeWrite). */
  peerSawEnd = false;
  /** pgtls closed the connection. */
  closed = false;
  /** capRecords was called. */
  capped = false;
  /** Whether reading is held now (the relay's brake). */
  held = false;
  /** How many times the relay held reading. */
  holds = 0;

  /** Bytes the peer still takes before writes queue; Infinity: a peer that keeps up. */
  #room: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #peak = 0;
  /** What the peer sent that no sink has had yet (none attached, or held). */
  #inbox: Uint8Array[] = [];
  #ended = false;
  #failure: Error | null = null;
  #sink: ConnSink | null = null;
  #halfClose: (() => void) | null = null;

  constructor(room = Infinity) {
    this.#room = room;
  }

  // --- the peer's side ---

  /** The peer sends `chunk`: delivered at once unless reading is held or nobody is attached. */
  peerSends(chunk: Uint8Array): void {
    this.#inbox.push(chunk);
    this.#deliver();
  }

  /** The peer sends end of stream (after what it sent before). */
  peerEnds(): void {
    this.#ended = true;
    this.#deliver();
  }

  /** The connection fails, as a reset would fail it. */
  peerFails(error: Error): void {
    this.#failure = error;
    this.#sink?.error(error);
  }

  /** The socket closes. */
  peerCloses(): void {
    this.#sink?.close();
  }

  /** The peer takes everything queued and may take `room` more bytes at once from now on. */
  peerReads(room = Infinity): void {
    this.#room = room;
    if (this.#queued === 0) return;
    this.delivered.push(...this.#queue);
    this.#queue = [];
    this.#queued = 0;
    this.onDrain?.();
    this.#halfClose?.();
  }

  /** Everything the peer has taken, as one array. */
  get deliveredBytes(): Uint8Array {
    return concatAll(this.delivered);
  }

  /** Chunks the peer sent that pgtls has not read (held back). */
  get unread(): number {
    return this.#inbox.length;
  }

  // --- the push face ---

  attach(sink: ConnSink): void {
    this.#sink = sink;
    this.#deliver();
    if (this.#failure !== null) sink.error(this.#failure);
  }

  send(bytes: Uint8Array): boolean {
    if (this.closed) return true;
    if (this.#queued === 0 && bytes.length <= this.#room) {
      this.#room -= bytes.length;
      this.delivered.push(bytes.slice());
      return true;
    }
    this.#queue.push(bytes.slice());
    this.#queued += bytes.length;
    if (this.#queued > this.#peak) this.#peak = this.#queued;
    return false;
  }

  hold(): void {
    this.held = true;
    this.holds++;
  }

  release(): void {
    this.held = false;
    this.#deliver();
  }

  get buffered(): number {
    return this.#queued + this.#inbox.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  get peakQueued(): number {
    return this.#peak;
  }

  capRecords(): void {
    this.capped = true;
  }

  closeWrite(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#halfClose = () => {
        if (this.#queued > 0) return;
        this.#halfClose = null;
        this.peerSawEnd = true;
        resolve();
      };
      this.#halfClose();
    });
  }

  /** What was queued is lost, as a destroyed socket's pending writes are. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = [];
    this.#queued = 0;
    this.#sink?.close();
  }

  // --- the pull face (negotiation; not the relay's) ---

  read(): Promise<Uint8Array | null> {
    return Promise.reject(new Error("the relay does not read"));
  }

  write(): Promise<void> {
    return Promise.reject(new Error("the relay does not write"));
  }

  #deliver(): void {
    const sink = this.#sink;
    if (sink === null) return;
    while (!this.held && this.#inbox.length > 0) sink.data(this.#inbox.shift()!);
    if (this.#ended && !this.held && this.#inbox.length === 0) {
      this.#ended = false;
      sink.end();
    }
  }
}
