/**
 * The {@link Host} on `node:fs` and `node:process`, which Deno, Bun and
 * Node.js all provide with the same behaviour.
 *
 * @module
 */

import { readFile, stat } from "node:fs/promises";
import process from "node:process";
import type { Host } from "./types.ts";

/** Builds the host for the current process. */
export function nodeHost(args: readonly string[]): Host {
  return {
    args,
    readTextFile: readRegularFile,
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

/**
 * Reads a config, certificate or key file. Anything but a regular file (a
 * named pipe, a device) is refused: reading one can block, and a blocked read
 * would hold up every later reload and, on Node.js, the exit.
 */
async function readRegularFile(path: string): Promise<string> {
  if (!(await stat(path)).isFile()) throw new Error(`${path}: not a regular file`);
  return await readFile(path, "utf8");
}
