/**
 * Process entry: picks the runtime adapter, runs the command line, exits.
 *
 * @module
 */

import process from "node:process";
import { detectRuntime } from "../runtime/detect.ts";
import { nodeHost } from "../runtime/node_host.ts";
import { main } from "./main.ts";

/** Runs pgtls with the process's arguments and exits with its code. */
export async function run(): Promise<never> {
  const code = await main(detectRuntime(), nodeHost(process.argv.slice(2)));
  process.exit(code);
}
