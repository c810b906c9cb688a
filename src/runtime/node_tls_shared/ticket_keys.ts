/**
 * Session-ticket keys with a bounded life (`TICKET_KEY_ROTATION_MS`): OpenSSL
 * and BoringSSL make a context's ticket keys when the context is made, so a
 * new context every period means new keys. Periods are counted from the
 * epoch, so every listener turns over at the same moments, checked as each
 * handshake starts (no timer to keep or stop).
 *
 * @module
 */

import { TICKET_KEY_ROTATION_MS } from "../../tls/policy.ts";

/** A value made anew in every ticket-key period: a TLS context, or options that make one. */
export class PerTicketPeriod<T> {
  readonly #make: (period: number) => T;
  readonly #now: () => number;
  #period = -1;
  #value: T | undefined;

  /** `make` is called at once, so that whatever it throws is thrown here. */
  constructor(make: (period: number) => T, now: () => number = Date.now) {
    this.#make = make;
    this.#now = now;
    this.current();
  }

  /** The value for the period now. */
  current(): T {
    const period = Math.floor(this.#now() / TICKET_KEY_ROTATION_MS);
    if (period !== this.#period) {
      this.#value = this.#make(period);
      this.#period = period;
    }
    return this.#value!;
  }
}
