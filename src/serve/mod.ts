/**
 * The serve lifecycle: start, reload, drain, workers, the metrics endpoint.
 *
 * @module
 */

export { serve, type ServeOptions, type Serving } from "./serve.ts";
export { type HeldSignals, holdSignals, type SignalHold } from "./held_signals.ts";
