/**
 * Whole protocol messages from a connection, one at a time, for the short
 * conversations pgtls holds itself while it authenticates (never the relay).
 *
 * @module
 */

import type { ByteConn } from "../../io/types.ts";
import { concatAll, EMPTY_BYTES } from "../../protocol/bytes.ts";
import { MessageScanner, type ProtocolMessage } from "../../protocol/message_scanner.ts";
import { MalformedMessage } from "../../protocol/messages.ts";

/** Reads messages; what it read past the last one it returned is kept for {@link rest}. */
export class MessageReader {
  readonly #conn: ByteConn;
  readonly #scanner = new MessageScanner();
  readonly #queue: ProtocolMessage[] = [];

  /** `initial`: bytes of the stream already read (what followed the startup packet). */
  constructor(conn: ByteConn, initial: Uint8Array = EMPTY_BYTES) {
    this.#conn = conn;
    if (initial.length > 0) this.#queue.push(...this.#scanner.push(initial));
  }

  /** The next whole message, or null once the peer has ended its stream. */
  async next(): Promise<ProtocolMessage | null> {
    while (this.#queue.length === 0) {
      if (this.#scanner.broken) throw new MalformedMessage("invalid message length");
      const chunk = await this.#conn.read();
      if (chunk === null) return null;
      this.#queue.push(...this.#scanner.push(chunk));
    }
    return this.#queue.shift()!;
  }

  /** Everything read and not yet returned, as bytes: what the relay must forward first. */
  rest(): Uint8Array {
    const parts = this.#queue.splice(0).map((m) => m.bytes);
    parts.push(this.#scanner.takePending());
    return concatAll(parts);
  }
}
