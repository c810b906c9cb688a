import { assertEquals } from "../helpers/assert.ts";
import { CancelKeys } from "../../src/proxy/cancel_keys.ts";

const key = (...bytes: number[]) => Uint8Array.from(bytes);

Deno.test("CancelKeys finds a session's backend by its whole key, and forgets it", () => {
  const keys = new CancelKeys<string>();
  const forgetA = keys.remember(key(0, 0, 1, 0, 9, 9, 9, 9), "a");
  keys.remember(key(0, 0, 1, 1, 9, 9, 9, 9), "b");
  assertEquals(keys.find(key(0, 0, 1, 0, 9, 9, 9, 9)), "a");
  assertEquals(keys.find(key(0, 0, 1, 1, 9, 9, 9, 9)), "b");
  // The same process id with another secret is somebody guessing.
  assertEquals(keys.find(key(0, 0, 1, 0, 9, 9, 9, 8)), undefined);
  forgetA();
  assertEquals(keys.find(key(0, 0, 1, 0, 9, 9, 9, 9)), undefined);
  assertEquals(keys.size, 1);
});

Deno.test("CancelKeys: a stale forget does not remove a newer session's key", () => {
  const keys = new CancelKeys<string>();
  const long = key(...Array.from({ length: 260 }, (_, i) => i % 256));
  const forgetOld = keys.remember(long, "old");
  keys.remember(long, "new");
  forgetOld();
  assertEquals(keys.find(long), "new");
});
