/**
 * Structured logging to an injected sink, as text or JSON lines.
 *
 * @module
 */

import type { LogFormat, LogLevel } from "../config/types.ts";

/** Values a log line can carry. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Writes log lines at or above a level. */
export class Logger {
  readonly #minimum: number;
  readonly #format: LogFormat;
  readonly #sink: (line: string) => void;
  readonly #now: () => Date;
  readonly #base: LogFields;

  constructor(
    options: { level: LogLevel; format: LogFormat },
    sink: (line: string) => void,
    now: () => Date = () => new Date(),
    base: LogFields = {},
  ) {
    this.#minimum = RANK[options.level];
    this.#format = options.format;
    this.#sink = sink;
    this.#now = now;
    this.#base = base;
  }

  /** A logger that adds `fields` to every line, e.g. which worker wrote it. */
  with(fields: LogFields): Logger {
    const level = (Object.keys(RANK) as LogLevel[]).find((l) => RANK[l] === this.#minimum)!;
    return new Logger({ level, format: this.#format }, this.#sink, this.#now, {
      ...this.#base,
      ...fields,
    });
  }

  /** Whether a message at `level` would be written (saves building fields). */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.#minimum;
  }

  debug(message: string, fields?: LogFields): void {
    this.#write("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#write("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#write("warn", message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.#write("error", message, fields);
  }

  #write(level: LogLevel, message: string, own: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const fields = { ...this.#base, ...own };
    const time = this.#now().toISOString();
    if (this.#format === "json") {
      this.#sink(JSON.stringify({ time, level, msg: message, ...fields }));
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      // Text is for reading: a field with no value (no SNI, no TLS) shows as "-".
      const text = value === null ? "-" : String(value);
      line += ` ${key}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`;
    }
    this.#sink(line);
  }
}
