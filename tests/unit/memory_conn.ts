/**
 * An in-memory connection for running the core without sockets.
 *
 * @module
 */

import type { TcpConn } from "../../src/runtime/types.ts";

export interface MemoryConnOptions {
  /** Every write fails with this. */
  readonly failWrites?: Error;
  /** Once `incoming` is used up, reads fail with this... */
  readonly failReads?: Error;
  /** ...or return end of stream at once instead of waiting for close(). */
  readonly ends?: boolean;
}

/** A connection whose reads come from `incoming`, then as the options say. */
export class MemoryConn implements TcpConn {
  readonly kind = "tcp";
  readonly remote = { host: "127.0.0.1", port: 40000 };
  readonly written: Uint8Array[] = [];
  closed = false;
  #wake: (() => void) | undefined;

  constructor(
    private readonly incoming: Uint8Array[],
    private readonly options: MemoryConnOptions = {},
  ) {}

  async read(): Promise<Uint8Array | null> {
    const chunk = this.incoming.shift();
    if (chunk !== undefined) return chunk;
    if (this.options.failReads) throw this.options.failReads;
    if (!this.closed && !this.options.ends) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return null;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.options.failWrites) return Promise.reject(this.options.failWrites);
    this.written.push(bytes.slice());
    return Promise.resolve();
  }

  /** The peer sees the end of pgtls's stream and closes, as libpq does after an error. */
  closeWrite(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.#wake?.();
  }
}
