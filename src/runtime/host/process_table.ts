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
import type { OpenFiles, OpenFilesUnreadable, ProcessInfo } from "../../io/types.ts";
import { asError } from "../../io/errors.ts";
import { maxFdsOf } from "./process_stats.ts";
import { canonicalIp, ipOverlap } from "../../config/ip.ts";

/** TCP state LISTEN in /proc/net/tcp. */
const LISTEN_STATE = "0A";

/**
 * The address of a /proc/net/tcp{,6} `local_address`: IPv4 as 8 hex digits,
 * IPv6 as 32, each 32-bit word in the machine's (little-endian) byte order.
 */
function procAddress(hex: string): string | null {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) =>
    (word.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16))
  );
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) return null;
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonicalIp(groups.join(":"));
}

/**
 * Socket inodes of the TCP sockets listening on `port` (IPv4 and IPv6) whose
 * address takes connections meant for `host`; every address when `host` is
 * a name rather than an IP literal.
 */
async function listeningInodes(port: number, host: string | undefined): Promise<Set<string>> {
  const wanted = host === undefined ? null : canonicalIp(host);
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
      const colon = local.lastIndexOf(":");
      if (parseInt(local.slice(colon + 1), 16) !== port) continue;
      const address = procAddress(local.slice(0, colon));
      if (wanted !== null && address !== null && !ipOverlap(wanted, address)) continue;
      inodes.add(fields[9]);
    }
  }
  return inodes;
}

/** The socket inodes among `pid`'s open descriptors. */
async function socketInodes(pid: string): Promise<Set<string>> {
  const found = new Set<string>();
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return found;
  }
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) found.add(inode);
  }
  return found;
}

/**
 * The processes holding a socket that listens on TCP `port` where it would
 * take connections for `host` (any address when absent), with their command
 * lines, leaving out the pids in `exclude` (whose sockets are looked at first,
 * so that when they hold every such socket no other process is read). Those
 * whose descriptors this process may not read are missing (another user's),
 * so an empty answer proves nothing.
 */
export async function listeningProcesses(
  port: number,
  options: { readonly host?: string; readonly exclude?: readonly number[] } = {},
): Promise<ProcessInfo[]> {
  const inodes = await listeningInodes(port, options.host);
  const exclude = new Set((options.exclude ?? []).map(String));
  for (const pid of exclude) {
    for (const inode of await socketInodes(pid)) inodes.delete(inode);
  }
  if (inodes.size === 0) return [];
  let pids: string[];
  try {
    pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name) && !exclude.has(name));
  } catch {
    return [];
  }
  const found: ProcessInfo[] = [];
  for (const pid of pids) {
    const held = await socketInodes(pid);
    if (![...inodes].some((inode) => held.has(inode))) continue;
    found.push({ pid: Number(pid), command: await commandLine(pid) });
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
export function openFiles(): OpenFiles | OpenFilesUnreadable | null {
  try {
    const limit = maxFdsOf(readFileSync(`/proc/${process.pid}/limits`, "utf8"));
    if (limit === undefined) return null;
    return { limit, open: readdirSync(`/proc/${process.pid}/fd`).length };
  } catch (error) {
    // No /proc (macOS, Windows): nothing to say. A /proc that refuses this
    // process (Deno 2.9 asks --allow-all for anything under /proc) is worth a warning.
    if ((error as { code?: unknown }).code === "ENOENT") return null;
    return { unreadable: asError(error).message };
  }
}
