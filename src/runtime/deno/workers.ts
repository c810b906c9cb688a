/**
 * The V8 options of Deno's worker processes. Deno's node:cluster workers do
 * not inherit `--v8-flags`; passed as Node.js options (their execArgv) they
 * reach the workers' V8, so the workers run as the supervisor was meant to
 * (`../v8/flags.ts`, with the measurement behind each option).
 *
 * @module
 */

import { V8_FLAGS } from "../v8/flags.ts";

/**
 * The execArgv for Deno's workers: pgtls's V8 options when this Deno was
 * started with them (`--expose-gc` shows as a global `gc`); undefined, for
 * no options added, when it was not.
 */
export function denoWorkerExecArgv(): readonly string[] | undefined {
  return typeof (globalThis as { gc?: unknown }).gc === "function" ? V8_FLAGS : undefined;
}
