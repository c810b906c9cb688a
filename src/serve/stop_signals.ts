/**
 * One Ctrl-C can reach pgtls several times within milliseconds: from the
 * terminal, which signals the whole foreground process group, and again from
 * each wrapper that relays it (`npm start`, `deno task`). A stop signal that
 * follows the first within {@link SIGNAL_ECHO_MS} is taken as that same
 * interrupt; only a later one is the operator's second signal, which means
 * "exit now" and would cut the sessions the first one lets drain.
 *
 * @module
 */

import { UsageError } from "../config/usage_error.ts";

/** Long enough for any relay, short of a deliberate second Ctrl-C. */
export const SIGNAL_ECHO_MS = 300;

/**
 * Sets the window instead of {@link SIGNAL_ECHO_MS}, for tests: with a long
 * one, a relayed copy is recognised however late a loaded machine handles it.
 */
export const SIGNAL_ECHO_ENV = "PGTLS_SIGNAL_ECHO_MS";

/** The window {@link SIGNAL_ECHO_ENV} sets: the default when unset, a usage error when not a count. */
export function signalEchoMs(value: string | undefined): number {
  if (value === undefined || value === "") return SIGNAL_ECHO_MS;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(
      `${SIGNAL_ECHO_ENV} must be a whole number of milliseconds, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** Remembers when the first stop signal came, to recognise its relayed copies. */
export class StopSignals {
  #firstAt: number | undefined;

  constructor(
    private readonly windowMs: number = SIGNAL_ECHO_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Notes a stop signal arriving now; true when it repeats the first one. */
  isEcho(): boolean {
    const now = this.now();
    if (this.#firstAt === undefined) {
      this.#firstAt = now;
      return false;
    }
    return now - this.#firstAt < this.windowMs;
  }
}
