/**
 * Follows where messages begin in a stream of regular protocol messages (type
 * byte, 32-bit length, body) without holding any of it, so that pgtls knows
 * whether a message of its own may go between two of the backend's: at a
 * boundary a FATAL is a message like any other; inside one it would corrupt
 * the stream. It reads five header bytes per message, and the first body
 * byte when a listener wants each message's type (ReadyForQuery's status is
 * that byte), and skips bodies whole, so the data path pays little for it.
 *
 * @module
 */

/**
 * Hears each message as it starts: its type byte and the first byte of its
 * body (-1 when the body is empty). Called once that byte has arrived.
 */
export type MessageListener = (type: number, first: number) => void;

/** Tracks message boundaries across chunks. */
export class MessageBoundary {
  /** Body bytes of the current message still to come. */
  #body = 0;
  /** Header bytes of the next message seen so far, when a chunk split it (0–4 of 5). */
  #header = 0;
  /** The length word as far as it has arrived. */
  #length = 0;
  /** The type byte of a header split across chunks. */
  #type = 0;
  /** The type of a started message whose first body byte has not come yet, or -1. */
  #awaiting = -1;
  #broken = false;
  readonly #onMessage: MessageListener | undefined;

  /** `onMessage`, when given, hears every message's type (see {@link MessageListener}). */
  constructor(onMessage?: MessageListener) {
    this.#onMessage = onMessage;
  }

  /** True when everything pushed so far ends with a whole message. */
  get atBoundary(): boolean {
    return !this.#broken && this.#header === 0 && this.#body === 0;
  }

  /** Follows `chunk`, the next bytes of the stream. */
  push(chunk: Uint8Array): void {
    if (this.#broken) return;
    const end = chunk.length;
    let at = 0;
    if (this.#awaiting >= 0 && end > 0) {
      const type = this.#awaiting;
      this.#awaiting = -1;
      this.#onMessage!(type, chunk[0]!);
    }
    while (at < end) {
      if (this.#body > 0) {
        const left = end - at;
        if (left <= this.#body) {
          this.#body -= left;
          return;
        }
        at += this.#body;
        this.#body = 0;
      } else if (this.#header === 0 && end - at >= 5) {
        const length = readLength(chunk, at + 1);
        // A length below 4 cannot be PostgreSQL's: boundaries are unknown from here on.
        if (length < 4) return this.#break();
        this.#body = length - 4;
        at += 5;
        if (this.#onMessage) this.#started(chunk[at - 5]!, chunk, at);
      } else {
        if (this.#header === 0) {
          this.#type = chunk[at]!;
          this.#length = 0;
        } else {
          this.#length = this.#length * 256 + chunk[at]!;
        }
        this.#header++;
        at++;
        if (this.#header === 5) {
          this.#header = 0;
          if (this.#length < 4) return this.#break();
          this.#body = this.#length - 4;
          if (this.#onMessage) this.#started(this.#type, chunk, at);
        }
      }
    }
  }

  /** A message's header is complete; its body starts at `at` of `chunk`. */
  #started(type: number, chunk: Uint8Array, at: number): void {
    if (this.#body === 0) this.#onMessage!(type, -1);
    else if (at < chunk.length) this.#onMessage!(type, chunk[at]!);
    else this.#awaiting = type;
  }

  #break(): void {
    this.#broken = true;
  }
}

function readLength(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! * 0x1000000 + bytes[offset + 1]! * 0x10000 +
    bytes[offset + 2]! * 0x100 + bytes[offset + 3]!;
}
