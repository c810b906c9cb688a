/**
 * The relay's young-generation collection runs once per step of bytes
 * relayed, asks for a minor collection, and carries no remainder over.
 */

import { assertEquals } from "../helpers/assert.ts";
import { type Gc, STEP_BYTES, YoungCollection } from "../../src/runtime/v8/young_collection.ts";

function recordingGc(): { gc: Gc; calls: unknown[] } {
  const calls: unknown[] = [];
  return { gc: (options) => calls.push(options), calls };
}

Deno.test("YoungCollection runs one minor collection per step relayed", () => {
  const { gc, calls } = recordingGc();
  const young = new YoungCollection(gc, 1000);
  young.relayed(400);
  young.relayed(599);
  assertEquals(calls.length, 0, "below one step nothing is collected");
  young.relayed(1);
  assertEquals(calls, [{ type: "minor" }]);
  for (let i = 0; i < 10; i++) young.relayed(250);
  assertEquals(calls.length, 1 + 2, "2500 more bytes make two more steps");
});

Deno.test("YoungCollection counts a chunk larger than a step as one step", () => {
  const { gc, calls } = recordingGc();
  const young = new YoungCollection(gc, 1000);
  young.relayed(5000);
  assertEquals(calls.length, 1);
  young.relayed(999);
  assertEquals(calls.length, 1, "the count starts again after a collection");
});

Deno.test("YoungCollection's default step is 4 MiB", () => {
  const { gc, calls } = recordingGc();
  const young = new YoungCollection(gc);
  assertEquals(STEP_BYTES, 4 * 1024 * 1024);
  young.relayed(STEP_BYTES - 1);
  assertEquals(calls.length, 0);
  young.relayed(1);
  assertEquals(calls.length, 1);
});
