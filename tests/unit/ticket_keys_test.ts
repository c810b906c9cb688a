/**
 * Session-ticket keys turn over with their contexts: a new one every
 * TICKET_KEY_ROTATION_MS (or the period a test sets), counted from the
 * epoch, checked as handshakes start; the old one is handed over to be
 * scrubbed.
 */

import { PerTicketPeriod } from "../../src/runtime/node_tls_shared/ticket_keys.ts";
import { TICKET_KEY_ROTATION_MS } from "../../src/tls/policy.ts";
import { TICKET_KEY_PERIOD_ENV, ticketKeyPeriodMs } from "../../src/serve/ticket_key_period.ts";
import { UsageError } from "../../src/config/usage_error.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";

Deno.test("a value is made once per ticket-key period, when the period has come, and the old one retired", () => {
  let now = 5 * TICKET_KEY_ROTATION_MS - 1;
  const made: number[] = [];
  const retired: number[] = [];
  const contexts = new PerTicketPeriod(
    (period) => {
      made.push(period);
      return { period };
    },
    { now: () => now },
    (old) => retired.push(old.period),
  );
  assertEquals(made, [4], "made at once");
  const first = contexts.current();
  assertEquals(contexts.current(), first);
  now += 1;
  const second = contexts.current();
  assertEquals([second.period, made, retired], [5, [4, 5], [4]]);
  now += TICKET_KEY_ROTATION_MS - 1;
  assertEquals(contexts.current() === second, true, "the same for the whole period");
  now += 1;
  assertEquals([contexts.current().period, retired], [6, [4, 5]]);
});

Deno.test("a shorter period turns over as often as it says", () => {
  let now = 10_000;
  const contexts = new PerTicketPeriod((period) => ({ period }), {
    now: () => now,
    periodMs: 2_000,
  });
  assertEquals(contexts.current().period, 5);
  now += 1_999;
  assertEquals(contexts.current().period, 5);
  now += 1;
  assertEquals(contexts.current().period, 6);
});

Deno.test("what making the first value throws is thrown when the holder is made", () => {
  assertThrows(
    () =>
      new PerTicketPeriod(() => {
        throw new Error("no cipher match");
      }),
    Error,
    "no cipher match",
  );
});

Deno.test("PGTLS_TICKET_KEY_PERIOD_MS only shortens the period: unset is 6 hours, anything else a usage error", () => {
  assertEquals(ticketKeyPeriodMs(undefined), TICKET_KEY_ROTATION_MS);
  assertEquals(ticketKeyPeriodMs(""), TICKET_KEY_ROTATION_MS);
  assertEquals(ticketKeyPeriodMs("3000"), 3_000);
  for (const value of ["999", "1e4", "-5000", String(TICKET_KEY_ROTATION_MS + 1), "soon"]) {
    assertThrows(() => ticketKeyPeriodMs(value), UsageError, TICKET_KEY_PERIOD_ENV);
  }
});
