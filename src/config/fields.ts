/**
 * A small typed reader over parsed YAML that names the key path in every
 * error, and rejects keys it was not asked about.
 *
 * @module
 */

import { MAX_DURATION, MAX_DURATION_MS, parseDuration } from "./duration.ts";
import { parseAddress } from "./address.ts";
import type { Endpoint } from "../io/types.ts";
import { resolvePath } from "./paths.ts";

/** A configuration value that is missing, mistyped or out of range. */
export class ConfigError extends Error {
  /** Dotted key path, e.g. `proxies[0].backend.address`. */
  readonly path: string;
  /** What is wrong, without the path. */
  readonly detail: string;

  constructor(path: string, detail: string) {
    super(path ? `${path}: ${detail}` : detail);
    this.name = "ConfigError";
    this.path = path;
    this.detail = detail;
  }

  /** The same error, naming the file it came from. */
  inFile(file: string): ConfigError {
    return new ConfigError(this.path, `${this.detail} (in ${file})`);
  }
}

/** Reads the fields of one mapping; {@link done} rejects any key not read. */
export class Fields {
  readonly path: string;
  /** Where relative file paths resolve; as written when undefined. */
  readonly baseDir: string | undefined;
  readonly #value: Record<string, unknown>;
  readonly #seen = new Set<string>();

  constructor(path: string, value: unknown, baseDir?: string) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new ConfigError(path, `must be a mapping, got ${describe(value)}`);
    }
    this.path = path;
    this.baseDir = baseDir;
    this.#value = value as Record<string, unknown>;
  }

  /** The key path of a child key. */
  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** The raw value of `key`, or `undefined` when it is absent or null. */
  raw(key: string): unknown {
    this.#seen.add(key);
    const value = this.#value[key];
    return value === null ? undefined : value;
  }

  /** A nested mapping, or `undefined` when absent. */
  mapping(key: string): Fields | undefined {
    const value = this.raw(key);
    return value === undefined ? undefined : new Fields(this.at(key), value, this.baseDir);
  }

  /** A nested mapping that must be present. */
  requiredMapping(key: string): Fields {
    return this.mapping(key) ?? this.#missing(key);
  }

  /** A list of mappings, or `[]` when absent. */
  list(key: string): Fields[] {
    const value = this.raw(key);
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      throw new ConfigError(this.at(key), `must be a list, got ${describe(value)}`);
    }
    return value.map((item, i) => new Fields(`${this.at(key)}[${i}]`, item, this.baseDir));
  }

  string(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value.trim() === "") {
      throw new ConfigError(this.at(key), `must be a non-empty string, got ${describe(value)}`);
    }
    return value;
  }

  requiredString(key: string): string {
    return this.string(key) ?? this.#missing(key);
  }

  /** A file path, resolved against {@link baseDir} when relative. */
  file(key: string): string | undefined {
    const value = this.string(key);
    return value === undefined || this.baseDir === undefined
      ? value
      : resolvePath(this.baseDir, value);
  }

  requiredFile(key: string): string {
    return this.file(key) ?? this.#missing(key);
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") {
      throw new ConfigError(this.at(key), `must be true or false, got ${describe(value)}`);
    }
    return value;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(
        this.at(key),
        `must be a whole number from ${min} to ${max}, got ${describe(value)}`,
      );
    }
    return value;
  }

  oneOf<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    // YAML reads 1.2 and 1.3 as numbers; accept them as the strings they stand for.
    const text = typeof value === "number" ? String(value) : value;
    if (typeof text !== "string" || !(choices as readonly string[]).includes(text)) {
      throw new ConfigError(
        this.at(key),
        `must be one of ${choices.join(", ")}, got ${describe(value)}`,
      );
    }
    return text as T;
  }

  /** A duration in milliseconds. */
  /** A duration in milliseconds, above zero unless `allowZero`, and one a timer can wait. */
  duration(key: string, fallbackMs: number, options: { allowZero?: boolean } = {}): number {
    const value = this.raw(key);
    if (value === undefined) return fallbackMs;
    const ms = typeof value === "string" ? parseDuration(value) : undefined;
    if (ms === undefined) {
      throw new ConfigError(
        this.at(key),
        `must be a duration such as 500ms, 10s or 2m, got ${describe(value)}`,
      );
    }
    if (ms === 0 && !options.allowZero) {
      throw new ConfigError(this.at(key), `must be longer than 0, got ${describe(value)}`);
    }
    if (ms > MAX_DURATION_MS) {
      throw new ConfigError(
        this.at(key),
        `must be at most ${MAX_DURATION}, got ${describe(value)}`,
      );
    }
    return ms;
  }

  address(key: string, options?: { allowPortZero?: boolean }): Endpoint | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    const parsed = parseAddress(text, options);
    if (typeof parsed === "string") throw new ConfigError(this.at(key), parsed);
    return parsed;
  }

  requiredAddress(key: string, options?: { allowPortZero?: boolean }): Endpoint {
    return this.address(key, options) ?? this.#missing(key);
  }

  /** Rejects every key that was present but never read. */
  done(): void {
    for (const key of Object.keys(this.#value)) {
      if (this.#seen.has(key)) continue;
      const suggestion = closest(key, [...this.#seen]);
      throw new ConfigError(
        this.at(key),
        `unknown key${suggestion ? ` (did you mean "${suggestion}"?)` : ""}; known keys: ${
          [...this.#seen].join(", ")
        }`,
      );
    }
  }

  #missing(key: string): never {
    throw new ConfigError(this.at(key), "is required");
  }
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return JSON.stringify(value);
}

/** The known key nearest to a misspelt one, if any is near enough to be a typo. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}
