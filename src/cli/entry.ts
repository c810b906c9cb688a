/**
 * Process entry: picks the runtime adapter, runs the command line, exits.
 *
 * @module
 */

import process from "node:process";
import { detectRuntime, detectWorkerExecArgv } from "../runtime/detect.ts";
import { nodeHost } from "../runtime/host/host.ts";
import { withWorkers } from "../runtime/host/workers.ts";
import { main } from "./main.ts";

/** Runs pgtls with the process's arguments and exits with its code. */
export async function run(): Promise<never> {
  const runtime = detectRuntime();
  const host = await withWorkers(
    nodeHost(process.argv.slice(2)),
    runtime.name,
    detectWorkerExecArgv(),
  );
  const code = await main(runtime, host);
  process.exit(code);
}
