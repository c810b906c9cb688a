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

type Gc = (options?: { type?: "minor" | "major" }) => void;

/** Counts relayed bytes and runs a young-generation collection every step. */
export class YoungCollection {
  #relayed = 0;

  constructor(readonly collect: () => void, readonly step: number = STEP_BYTES) {}

  /** Notes `bytes` more relayed; collects once a step is reached. */
  readonly relayed = (bytes: number): void => {
    this.#relayed += bytes;
    if (this.#relayed < this.step) return;
    this.#relayed = 0;
    this.collect();
  };
}

/**
 * The global `gc`, present when V8 was started with `--expose-gc` (Node.js's
 * flag, or Deno's `--v8-flags=--expose-gc`).
 */
export function exposedYoungCollection(): YoungCollection | undefined {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (typeof gc !== "function") return undefined;
  return new YoungCollection(() => gc({ type: "minor" }));
}

/**
 * The `gc` of a new vm context, after turning on `--expose-gc` at run time.
 * Node.js honours `{ type: "minor" }` there; Deno 2.9 does not (it runs a
 * full collection), so Deno uses this only through `deno_memory.ts`.
 */
export function vmYoungCollection(): YoungCollection | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as Gc;
    return new YoungCollection(() => gc({ type: "minor" }));
  } catch {
    return undefined;
  }
}
