/**
 * Frees the relay's garbage Buffers as fast as the relay makes them.
 *
 * Every chunk a `node:net`/`node:tls` socket reads arrives in a new Buffer
 * that is garbage once written on. V8 collects them only when its
 * JavaScript heap fills, which the relay's few small objects per chunk take
 * long to do, so resident memory climbs by tens of MB while a large COPY
 * passes (measured with 1 GB through a slow peer: +12 MiB on Node.js, +14 to
 * +63 MiB on Deno). A young-generation collection frees them in about
 * 0.1 ms, so running one after every {@link STEP_BYTES} relayed costs ~30 ms of
 * CPU per GB and keeps the growth to a few MB (the backpressure tests
 * measure it).
 *
 * @module
 */

import vm from "node:vm";
import v8 from "node:v8";

/** Bytes relayed between two young-generation collections. */
export const STEP_BYTES = 4 * 1024 * 1024;

export type Gc = (options?: { type?: "minor" | "major" }) => void;

/** Counts relayed bytes and runs a young-generation collection every step. */
export class YoungCollection {
  #relayed = 0;

  /** `gc` must honour `{ type: "minor" }` (see {@link vmGc}). */
  constructor(private readonly gc: Gc, readonly step: number = STEP_BYTES) {}

  /** Notes `bytes` more relayed; collects once a step is reached. */
  readonly relayed = (bytes: number): void => {
    this.#relayed += bytes;
    if (this.#relayed < this.step) return;
    this.#relayed = 0;
    this.gc({ type: "minor" });
  };
}

/**
 * The global `gc`, present when V8 was started with `--expose-gc` (Node.js's
 * flag, or Deno's `--v8-flags=--expose-gc`).
 */
export function exposedGc(): Gc | undefined {
  const gc = (globalThis as { gc?: Gc }).gc;
  return typeof gc === "function" ? gc : undefined;
}

/**
 * The `gc` of a new vm context, after turning on `--expose-gc` at run time.
 * Node.js honours `{ type: "minor" }` there; Deno 2.9 does not (it runs a
 * full collection of ~10 ms), so Deno uses it only for full collections.
 */
export function vmGc(): Gc | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc") as Gc;
  } catch {
    return undefined;
  }
}
