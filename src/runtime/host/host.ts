/**
 * The {@link Host} on `node:fs` and `node:process`, which Deno, Bun and
 * Node.js all provide with the same behaviour.
 *
 * @module
 */

import { readFile, stat } from "node:fs/promises";
import process from "node:process";
import { permitted } from "./permissions.ts";
import type { FilePermissions, Host } from "../../io/types.ts";
import { listeningProcesses, openFiles } from "./process_table.ts";
import { processStats } from "./process_stats.ts";

/** Builds the host for the current process. */
export function nodeHost(args: readonly string[]): Host {
  return {
    args,
    readTextFile,
    filePermissions,
    env,
    cwd: () => process.cwd(),
    listeningProcesses,
    openFiles,
    processStats,
    pid: process.pid,
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

function env(name: string): string | undefined {
  return permitted({ name: "env", variable: name }) ? process.env[name] : undefined;
}

/**
 * Reads a config, certificate or key file. A reload reads regular files only:
 * reading a named pipe blocks until something writes to it, which would hold
 * up every later reload and, on Node.js, the exit. At start a pipe is fine
 * (`--config <(envsubst < pgtls.yaml.in)`).
 */
async function readTextFile(
  path: string,
  options?: { readonly regularOnly?: boolean },
): Promise<string> {
  if (options?.regularOnly && !(await stat(path)).isFile()) {
    throw new Error("not a regular file (a reload reads only regular files)");
  }
  return await readFile(path, "utf8");
}

/** A file's mode bits and owner; none on Windows, whose files have no such bits to read. */
async function filePermissions(path: string): Promise<FilePermissions | null> {
  if (process.platform === "win32") return null;
  const stats = await stat(path);
  return { mode: stats.mode & 0o7777, uid: stats.uid };
}
