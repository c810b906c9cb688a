/**
 * Follows where messages begin in a stream of regular protocol messages (type
 * byte, 32-bit length, body) without holding any of it, so that pgtls knows
 * whether a message of its own may go between two of the backend's: at a
 * boundary a FATAL is a message like any other; inside one it would corrupt
 * the stream. It reads five header bytes per message and skips bodies whole,
 * so the data path pays little for it.
 *
 * @module
 */

/** Tracks message boundaries across chunks. */
export class MessageBoundary {
  /** Body bytes of the current message still to come. */
  #body = 0;
  /** Header bytes of the next message seen so far, when a chunk split it (0–4 of 5). */
  #header = 0;
  /** The length word as far as it has arrived. */
  #length = 0;
  #broken = false;

  /** True when everything pushed so far ends with a whole message. */
  get atBoundary(): boolean {
    return !this.#broken && this.#header === 0 && this.#body === 0;
  }

  /** Follows `chunk`, the next bytes of the stream. */
  push(chunk: Uint8Array): void {
    if (this.#broken) return;
    const end = chunk.length;
    let at = 0;
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
      } else {
        this.#length = this.#header === 0 ? 0 : this.#length * 256 + chunk[at]!;
        this.#header++;
        at++;
        if (this.#header === 5) {
          this.#header = 0;
          if (this.#length < 4) return this.#break();
          this.#body = this.#length - 4;
        }
      }
    }
  }

  #break(): void {
    this.#broken = true;
  }
}

function readLength(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! * 0x1000000 + bytes[offset + 1]! * 0x10000 +
    bytes[offset + 2]! * 0x100 + bytes[offset + 3]!;
}
