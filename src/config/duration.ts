/**
 * Durations as written in the config file: `500ms`, `10s`, `2m`, `1h`.
 *
 * @module
 */

/**
 * The longest duration accepted, written as in the file. Timers hold at most
 * 2^31-1 ms (about 24.8 days) and fire at once beyond it; a day is far
 * longer than any sensible timeout and well inside that.
 */
export const MAX_DURATION = "24h";
export const MAX_DURATION_MS = 24 * 3_600_000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration to milliseconds; returns `undefined` when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
}

/** Formats milliseconds the way they are written in the config file. */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
