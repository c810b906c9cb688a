/**
 * The {@link Host} on `node:fs` and `node:process`, which Deno, Bun and
 * Node.js all provide with the same behaviour.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import process from "node:process";
import type { Host } from "./types.ts";

/** Builds the host for the current process. */
export function nodeHost(args: readonly string[]): Host {
  return {
    args,
    readTextFile: (path) => readFile(path, "utf8"),
    writeErrorLine: (line) => {
      process.stderr.write(line + "\n");
    },
    writeOut: (text) => {
      process.stdout.write(text);
    },
    onSignal(signal, handler) {
      process.on(signal, handler);
      return () => process.off(signal, handler);
    },
    exit: (code) => process.exit(code),
  };
}
