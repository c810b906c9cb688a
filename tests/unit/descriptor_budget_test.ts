import { assertEquals, assertMatch } from "../helpers/assert.ts";
import {
  descriptorReserve,
  descriptorWarning,
  SessionBudget,
  sessionsAllowed,
} from "../../src/proxy/descriptor_budget.ts";

Deno.test("sessionsAllowed() leaves two descriptors a session after what is open and the reserve", () => {
  assertEquals(sessionsAllowed({ limit: 1024, open: 24 }, 100), 450);
  assertEquals(sessionsAllowed({ limit: 100, open: 24 }, 100), 0);
  assertEquals(sessionsAllowed(null, 100), Number.POSITIVE_INFINITY);
  assertEquals(
    sessionsAllowed({ limit: Number.POSITIVE_INFINITY, open: 3 }, 100),
    Number.POSITIVE_INFINITY,
  );
});

Deno.test("descriptorReserve() grows with each proxy's listener and refusals in flight", () => {
  assertEquals(descriptorReserve(1, 32), 129);
  assertEquals(descriptorReserve(3, 32), 259);
});

Deno.test("descriptorWarning() is null when the limit has room, and gives every number when it does not", () => {
  assertEquals(descriptorWarning({ limit: 1_048_576, open: 20 }, 10_000, 97, 1), null);
  assertEquals(descriptorWarning(null, 10_000, 97, 1), null);
  const text = descriptorWarning({ limit: 1024, open: 23 }, 10_000, 97, 1)!;
  assertMatch(text, /^max_connections allows 10000 sessions, which need 20120 file descriptors/);
  assertMatch(text, /\(2 a session, and 120 for pgtls itself\), but the open-file limit is 1024/);
  assertMatch(text, /at most 452 sessions run at once and further clients get FATAL 53300/);
  assertMatch(
    descriptorWarning({ limit: 1024, open: 23 }, 5000, 97, 2)!,
    /sessions in each worker/,
  );
});

Deno.test("SessionBudget is full once as many sessions as allowed are taken, and has room again when one is given back", () => {
  const budget = new SessionBudget(2);
  budget.take();
  assertEquals(budget.full, false);
  budget.take();
  assertEquals(budget.full, true);
  budget.give();
  assertEquals(budget.full, false);
});
