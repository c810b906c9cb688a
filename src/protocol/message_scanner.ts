/**
 * Splits a stream of regular protocol messages (type byte, 32-bit length,
 * body) into whole messages, holding back an incomplete one until the rest
 * arrives. Used only while a session authenticates; the data path after it
 * never parses messages.
 *
 * @module
 */

import { concatBytes, EMPTY_BYTES, readUint32 } from "./bytes.ts";

/** One whole message. `bytes` includes the type byte and length word. */
export interface ProtocolMessage {
  readonly type: number;
  readonly body: Uint8Array;
  readonly bytes: Uint8Array;
}

/** Longest message the scanner accepts before calling the stream not PostgreSQL. */
const MAX_SCANNED_MESSAGE = 1 << 20;

/** Incremental message splitter. */
export class MessageScanner {
  #pending: Uint8Array = EMPTY_BYTES;
  #broken = false;

  /** True once the stream stopped looking like protocol messages. */
  get broken(): boolean {
    return this.#broken;
  }

  /** Adds bytes and returns every message they complete. */
  push(chunk: Uint8Array): ProtocolMessage[] {
    const buffer = concatBytes(this.#pending, chunk);
    const messages: ProtocolMessage[] = [];
    let offset = 0;
    while (!this.#broken && buffer.length - offset >= 5) {
      const length = readUint32(buffer, offset + 1);
      if (length < 4 || length > MAX_SCANNED_MESSAGE) {
        this.#broken = true;
        break;
      }
      if (buffer.length - offset < 1 + length) break;
      messages.push({
        type: buffer[offset]!,
        body: buffer.subarray(offset + 5, offset + 1 + length),
        bytes: buffer.subarray(offset, offset + 1 + length),
      });
      offset += 1 + length;
    }
    this.#pending = buffer.subarray(offset);
    return messages;
  }

  /** Bytes held back: an incomplete message, or everything after the stream broke. */
  takePending(): Uint8Array {
    const pending = this.#pending;
    this.#pending = EMPTY_BYTES;
    return pending;
  }
}

/** Reads a NUL-terminated string at `offset`; returns it and the offset after the NUL. */
export function readCString(bytes: Uint8Array, offset: number): [string, number] {
  const end = bytes.indexOf(0, offset);
  const stop = end < 0 ? bytes.length : end;
  return [new TextDecoder().decode(bytes.subarray(offset, stop)), stop + 1];
}
