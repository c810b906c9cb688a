/**
 * Signals that arrive while pgtls is starting. Until its own handlers are in
 * place, a signal would otherwise kill the process (SIGHUP) or end it
 * without the drain (SIGTERM, SIGINT); held, each is served once pgtls
 * serves: a stop stops it, a reload reloads it.
 *
 * @module
 */

import type { Host } from "../io/types.ts";

/** Signals that arrived while pgtls was starting, held until it serves. */
export interface HeldSignals {
  /** The first SIGTERM or SIGINT, if one came. */
  readonly stop: string | null;
  readonly reload: boolean;
}

/** Holds signals from now on; `release` (idempotent) stops holding and tells what came. */
export interface SignalHold {
  release(): HeldSignals;
}

/** Holds SIGTERM, SIGINT and SIGHUP until `release`. */
export function holdSignals(host: Host): SignalHold {
  const held = { stop: null as string | null, reload: false };
  const off = [
    host.onSignal("SIGTERM", () => held.stop ??= "SIGTERM"),
    host.onSignal("SIGINT", () => held.stop ??= "SIGINT"),
    host.onSignal("SIGHUP", () => held.reload = true),
  ];
  return {
    release() {
      off.splice(0).forEach((unsubscribe) => unsubscribe());
      return held;
    },
  };
}

/** A hold for a caller that handles no signals: nothing is held, nothing comes. */
export const NO_SIGNALS: SignalHold = {
  release: () => ({ stop: null, reload: false }),
};
