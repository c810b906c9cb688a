/**
 * Picks the adapter for the runtime pgtls runs on, once, at start-up.
 * Deno is probed first and Bun second: both also expose `process`, so a
 * Node.js probe alone would misfire.
 *
 * @module
 */

import type { Runtime } from "../io/types.ts";
import { denoRuntime } from "./deno/mod.ts";
import { denoWorkerExecArgv } from "./deno/workers.ts";
import { nodeRuntime } from "./node/mod.ts";
import { bunRuntime } from "./bun/mod.ts";
import process from "node:process";

/** Name of the runtime executing this code. */
export function detectRuntimeName(): "deno" | "bun" | "node" {
  const globals = globalThis as Record<string, unknown>;
  if (typeof globals.Deno === "object" && globals.Deno !== null) return "deno";
  if (typeof globals.Bun === "object" && globals.Bun !== null) return "bun";
  return "node";
}

/** The adapter for the current runtime. */
export function detectRuntime(): Runtime {
  switch (detectRuntimeName()) {
    case "deno":
      return denoRuntime();
    case "bun":
      // PGTLS_BUN_ADAPTER=node runs Bun on the node:net/node:tls adapter, to compare the two.
      if (process.env.PGTLS_BUN_ADAPTER === "node") {
        return { ...nodeRuntime(), name: "bun", version: bunRuntime().version };
      }
      return bunRuntime();
    default:
      return nodeRuntime();
  }
}

/**
 * The runtime options of worker processes, where the runtime does not pass
 * its own on (Deno); undefined where node:cluster's inheritance is right.
 */
export function detectWorkerExecArgv(): readonly string[] | undefined {
  return detectRuntimeName() === "deno" ? denoWorkerExecArgv() : undefined;
}
