/**
 * `PGTLS_TICKET_KEY_PERIOD_MS`, for tests: a shorter life for the listeners'
 * session-ticket keys than `TICKET_KEY_ROTATION_MS`, so that a test can see
 * a period turn over (Node.js and Bun; Deno's keys are rustls's own). It can
 * only shorten the period, never lengthen it.
 *
 * @module
 */

import { TICKET_KEY_ROTATION_MS } from "../tls/policy.ts";
import { UsageError } from "../config/usage_error.ts";

/** The environment variable. */
export const TICKET_KEY_PERIOD_ENV = "PGTLS_TICKET_KEY_PERIOD_MS";

/** The period it sets: the default when unset, a usage error when not a count within it. */
export function ticketKeyPeriodMs(value: string | undefined): number {
  if (value === undefined || value === "") return TICKET_KEY_ROTATION_MS;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms < 1000 || ms > TICKET_KEY_ROTATION_MS) {
    throw new UsageError(
      `${TICKET_KEY_PERIOD_ENV} must be a whole number of milliseconds from 1000 to ` +
        `${TICKET_KEY_ROTATION_MS}, got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}
