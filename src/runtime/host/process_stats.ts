/**
 * This process's CPU time, memory and descriptors as Linux's /proc gives
 * them, for the `process_*` metrics; read only when a scrape asks.
 *
 * Deno 2.9 refuses every read under /proc/<pid> unless it runs with
 * `--allow-all` (`--allow-read` is not enough). There, CPU time and resident
 * memory come from the runtime instead (`process.cpuUsage()`, the same
 * getrusage figures, and `process.memoryUsage.rss()`), and the descriptor
 * counts are left out.
 *
 * @module
 */

import { readdir, readFile } from "node:fs/promises";
import process from "node:process";
import type { ProcessStats } from "../../io/types.ts";

/**
 * Clock ticks per second of /proc's CPU times (USER_HZ): 100 on every Linux
 * architecture pgtls runs on; Prometheus' own procfs reader assumes the same.
 */
const USER_HZ = 100;

/** What /proc says of this process; null on anything but Linux. */
export async function processStats(): Promise<ProcessStats | null> {
  if (process.platform !== "linux") return null;
  // By pid rather than /proc/self, as process_table.ts reads it.
  const dir = `/proc/${process.pid}`;
  const text = (path: string) => readFile(`${dir}/${path}`, "utf8").catch(() => null);
  const [stat, status, limits, fds] = await Promise.all([
    text("stat"),
    text("status"),
    text("limits"),
    readdir(`${dir}/fd`).then((names) => names.length, () => undefined),
  ]);
  return {
    cpuSeconds: cpuSecondsOf(stat) ?? runtimeCpuSeconds(),
    residentBytes: residentBytesOf(status) ?? runtimeResidentBytes(),
    openFds: fds,
    maxFds: maxFdsOf(limits),
  };
}

/** utime + stime of /proc/<pid>/stat (fields 14 and 15), in seconds. */
export function cpuSecondsOf(stat: string | null): number | undefined {
  if (stat === null) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces or ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  if (!Number.isFinite(user) || !Number.isFinite(system)) return undefined;
  return (user + system) / USER_HZ;
}

/** VmRSS of /proc/<pid>/status, in bytes. */
export function residentBytesOf(status: string | null): number | undefined {
  const kib = status === null ? undefined : /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kib === undefined ? undefined : Number(kib) * 1024;
}

/** The soft "Max open files" of /proc/<pid>/limits; Infinity when unlimited. */
export function maxFdsOf(limits: string | null): number | undefined {
  const soft = limits === null
    ? undefined
    : /^Max open files\s+(\d+|unlimited)\s/m.exec(limits)?.[1];
  if (soft === undefined) return undefined;
  return soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
}

function runtimeCpuSeconds(): number | undefined {
  try {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  } catch {
    return undefined;
  }
}

function runtimeResidentBytes(): number | undefined {
  try {
    return process.memoryUsage.rss();
  } catch {
    return undefined;
  }
}
