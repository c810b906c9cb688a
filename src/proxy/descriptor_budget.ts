/**
 * How many sessions the process's open-file limit allows, so that pgtls
 * refuses a client (FATAL 53300) before it runs out of descriptors. At
 * EMFILE nothing reaches pgtls: the runtimes close or leave waiting the
 * connections they cannot accept, with no event to log, and a session that
 * was accepted fails to open its backend (measured under `prlimit --nofile`).
 *
 * @module
 */

import type { OpenFiles, OpenFilesUnreadable } from "../io/types.ts";

/** A session holds the client's socket and the backend's. */
export const DESCRIPTORS_PER_SESSION = 2;

/**
 * Descriptors kept beyond sessions and those open at start: each proxy's
 * listener and its refusals in flight (see `server.ts`; two each, as a
 * refused session still forwards a cancel), plus metrics scrapes, reloads
 * reading files, cancels other workers hand over, and the runtime's own growth.
 */
export function descriptorReserve(proxies: number, refusalsPerProxy: number): number {
  return 64 + proxies * (1 + DESCRIPTORS_PER_SESSION * refusalsPerProxy);
}

/** Sessions the limit leaves room for; unbounded where the limit is unknown. */
export function sessionsAllowed(files: OpenFiles | null, reserve: number): number {
  if (files === null || !Number.isFinite(files.limit)) return Number.POSITIVE_INFINITY;
  return Math.max(0, Math.floor((files.limit - files.open - reserve) / DESCRIPTORS_PER_SESSION));
}

/** The sessions of every proxy of one process, counted against what the limit allows. */
export class SessionBudget {
  #active = 0;

  constructor(readonly allowed: number) {}

  /** Whether one more session would exceed what the open-file limit allows. */
  get full(): boolean {
    return this.#active >= this.allowed;
  }

  take(): void {
    this.#active++;
  }

  give(): void {
    this.#active--;
  }
}

/**
 * The start-up warning when `max_connections` (each worker's share, summed
 * over the proxies) needs more descriptors than the limit has, or null.
 */
export function descriptorWarning(
  files: OpenFiles | null,
  maxSessions: number,
  reserve: number,
  workers: number,
): string | null {
  if (files === null || !Number.isFinite(files.limit)) return null;
  const needed = maxSessions * DESCRIPTORS_PER_SESSION + files.open + reserve;
  if (needed <= files.limit) return null;
  const allowed = sessionsAllowed(files, reserve);
  const each = workers > 1 ? " in each worker" : "";
  return `max_connections allows ${maxSessions} sessions${each}, which need ${needed} file ` +
    `descriptors (${DESCRIPTORS_PER_SESSION} a session, and ${
      files.open + reserve
    } for pgtls itself), but the open-file limit is ${files.limit}: at most ${allowed} sessions${each} ` +
    "run at once and further clients get FATAL 53300; raise the limit (systemd LimitNOFILE=, " +
    "ulimit -n, docker run --ulimit nofile=) or lower max_connections";
}

/**
 * The start-up warning when /proc would not say how many descriptors pgtls
 * may open: sessions then run up to `max_connections` alone.
 */
export function unreadableLimitWarning(reading: OpenFilesUnreadable): string {
  return `cannot read the open-file limit (${reading.unreadable}): sessions are limited by ` +
    "max_connections alone, and a client beyond the limit waits unanswered; under deno run, " +
    "give --allow-all (Deno reads /proc only with it)";
}
