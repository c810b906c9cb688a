/**
 * What Linux's /proc tells about processes and descriptors: who listens on a
 * TCP port, and this process's open-file limit. Elsewhere (no /proc, or not
 * readable) every answer is "unknown": callers treat that as nothing to say.
 *
 * @module
 */

import { readdir, readFile, readlink } from "node:fs/promises";
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import type { OpenFiles, ProcessInfo } from "./types.ts";

/** TCP state LISTEN in /proc/net/tcp. */
const LISTEN_STATE = "0A";

/** Socket inodes of the TCP sockets listening on `port` (IPv4 and IPv6). */
async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = await readFile(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local === undefined || fields[3] !== LISTEN_STATE || fields[9] === undefined) continue;
      if (parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * The processes holding a socket that listens on TCP `port`, with their
 * command lines; those whose descriptors this process may not read are
 * missing (another user's), so an empty answer proves nothing.
 */
export async function listeningProcesses(port: number): Promise<ProcessInfo[]> {
  const inodes = await listeningInodes(port);
  if (inodes.size === 0) return [];
  let pids: string[];
  try {
    pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const found: ProcessInfo[] = [];
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode === undefined || !inodes.has(inode)) continue;
      found.push({ pid: Number(pid), command: await commandLine(pid) });
      break;
    }
  }
  return found;
}

async function commandLine(pid: string): Promise<string> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return raw.split("\0").filter((word) => word !== "").join(" ");
  } catch {
    return "";
  }
}

/**
 * This process's open-file limit and how many descriptors it has open now,
 * or null where /proc does not say. Deno, Bun and Node.js raise the soft
 * limit to the hard one as they start, so the soft limit read here is the
 * one that applies.
 */
export function openFiles(): OpenFiles | null {
  try {
    const limits = readFileSync(`/proc/${process.pid}/limits`, "utf8");
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    if (soft === undefined) return null;
    const limit = soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
    return { limit, open: readdirSync(`/proc/${process.pid}/fd`).length };
  } catch {
    return null;
  }
}
