/**
 * Session-ticket keys with a bounded life (`TICKET_KEY_ROTATION_MS`): OpenSSL
 * and BoringSSL make a context's ticket keys when the context is made, so a
 * new context every period means new keys. Periods are counted from the
 * epoch, so every listener turns over at the same moments, checked as each
 * handshake starts (no timer to keep or stop).
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import type tls from "node:tls";
import { TICKET_KEY_ROTATION_MS } from "../../tls/policy.ts";

/** How a {@link PerTicketPeriod} tells the time. */
export interface TicketClock {
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /** The length of a period. @default TICKET_KEY_ROTATION_MS */
  readonly periodMs?: number;
}

/** A value made anew in every ticket-key period: a TLS context, or options that make one. */
export class PerTicketPeriod<T> {
  readonly #make: (period: number) => T;
  readonly #retire: ((old: T) => void) | undefined;
  readonly #now: () => number;
  readonly #periodMs: number;
  #period = -1;
  #value: T | undefined;

  /**
   * `make` is called at once, so that whatever it throws is thrown here;
   * `retire` gets each value whose period is over, once its successor is made.
   */
  constructor(make: (period: number) => T, clock: TicketClock = {}, retire?: (old: T) => void) {
    this.#make = make;
    this.#retire = retire;
    this.#now = clock.now ?? Date.now;
    this.#periodMs = clock.periodMs ?? TICKET_KEY_ROTATION_MS;
    this.current();
  }

  /** The value for the period now. */
  current(): T {
    const period = Math.floor(this.#now() / this.#periodMs);
    if (period !== this.#period) {
      const old = this.#value;
      this.#value = this.#make(period);
      this.#period = period;
      if (old !== undefined) this.#retire?.(old);
    }
    return this.#value!;
  }
}

/**
 * Replaces the ticket keys of a context whose period is over with random
 * ones nobody keeps, where the runtime lets pgtls (Node.js's `node:tls`;
 * Bun's has no `setTicketKeys`): the context lives on while any connection
 * made with it does, and with it the key that decrypts every TLS 1.2 ticket
 * it issued. A live connection needs the key no more; a session resumed
 * with it would not be resumed anyway, as the context is no longer used.
 */
export function scrubTicketKeys(context: tls.SecureContext): void {
  const native = (context as { context?: { setTicketKeys?: (keys: Uint8Array) => void } })
    .context;
  if (typeof native?.setTicketKeys === "function") native.setTicketKeys(randomBytes(48));
}
