/**
 * Session-ticket keys turn over with their contexts: a new one every
 * TICKET_KEY_ROTATION_MS, counted from the epoch, checked as handshakes start.
 */

import { PerTicketPeriod } from "../../src/runtime/node_tls_shared/ticket_keys.ts";
import { TICKET_KEY_ROTATION_MS } from "../../src/tls/policy.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";

Deno.test("a value is made once per ticket-key period, when the period has come", () => {
  let now = 5 * TICKET_KEY_ROTATION_MS - 1;
  const made: number[] = [];
  const contexts = new PerTicketPeriod((period) => {
    made.push(period);
    return { period };
  }, () => now);
  assertEquals(made, [4], "made at once");
  const first = contexts.current();
  assertEquals(contexts.current(), first);
  now += 1;
  const second = contexts.current();
  assertEquals([second.period, made], [5, [4, 5]]);
  now += TICKET_KEY_ROTATION_MS - 1;
  assertEquals(contexts.current() === second, true, "the same for the whole period");
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

Deno.test("pgtls's ticket keys live as long as rustls's: 6 hours", () => {
  assertEquals(TICKET_KEY_ROTATION_MS, 6 * 60 * 60 * 1000);
});
