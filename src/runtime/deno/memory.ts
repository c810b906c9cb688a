/**
 * Keeps Deno's resident memory in step with the bytes actually held.
 *
 * Deno 2.9 does not count the Buffers that `node:net` and `node:tls` churn
 * through towards V8's GC heuristics, so with a small JavaScript heap a busy
 * relay accumulates hundreds of MB of garbage Buffers before V8 collects any
 * (measured while 1 GB passed a slow backend: resident memory +363 MiB
 * without this). This watches external memory and asks V8 for a collection
 * when it has grown by {@link GROWTH_BEFORE_COLLECTION} since the last one.
 * It is the fallback for a Deno started without `--v8-flags=--expose-gc`
 * (otherwise `young_collection.ts` does better): the only collection then
 * reachable is a full one (the `gc` of a new vm context ignores
 * `{ type: "minor" }`), which costs milliseconds: at 8 MiB it took half of
 * pgtls's CPU during a COPY; at 32 MiB resident memory during a COPY peaked
 * at ~130 MB against ~100 MB (and ~300 MB with no collection at all).
 *
 * @module
 */

import process from "node:process";
import { vmGc } from "../v8/young_collection.ts";

/** How much external memory may pile up before a collection is requested. */
const GROWTH_BEFORE_COLLECTION = 32 * 1024 * 1024;
/** How often external memory is checked. */
const CHECK_INTERVAL_MS = 100;

let started = false;

/** Starts the watcher once per process; a no-op when V8 will not expose `gc`. */
export function watchExternalMemory(): void {
  if (started) return;
  started = true;
  const collect = vmGc();
  if (collect === undefined) return;
  let baseline = process.memoryUsage().external;
  const timer = setInterval(() => {
    const external = process.memoryUsage().external;
    if (external - baseline < GROWTH_BEFORE_COLLECTION) return;
    collect();
    baseline = process.memoryUsage().external;
  }, CHECK_INTERVAL_MS);
  // The watcher must not keep an otherwise finished process alive.
  (timer as unknown as { unref?: () => void }).unref?.();
}
