/**
 * The local assertion helpers fail when they should: a helper that never
 * fails would make every other test pass vacuously.
 */

import {
  assert,
  assertEquals,
  AssertionError,
  assertMatch,
  assertRejects,
  assertThrows,
} from "../helpers/assert.ts";

/** Runs `fn` and reports whether it threw an AssertionError (and nothing else). */
function fails(fn: () => void): boolean {
  try {
    fn();
  } catch (error) {
    if (error instanceof AssertionError) return true;
    throw error;
  }
  return false;
}

class CustomError extends Error {}

Deno.test("assert fails on a falsy condition with the given message", () => {
  assertEquals(fails(() => assert(true)), false);
  assertEquals(fails(() => assert(0)), true);
  const error = assertThrows(() => assert(false, "boom"), AssertionError);
  assertEquals(error.message, "boom");
});

Deno.test("assertEquals compares byte arrays by content", () => {
  assertEquals(fails(() => assertEquals(Uint8Array.of(1, 2), Uint8Array.of(1, 2))), false);
  assertEquals(fails(() => assertEquals(Uint8Array.of(1, 2), Uint8Array.of(1, 3))), true);
  assertEquals(fails(() => assertEquals(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0))), true);
  assertEquals(fails(() => assertEquals(Uint8Array.of(1, 2).subarray(1), Uint8Array.of(2))), false);
});

Deno.test("assertEquals compares Maps by content", () => {
  assertEquals(fails(() => assertEquals(new Map([["a", "1"]]), new Map([["a", "1"]]))), false);
  assertEquals(fails(() => assertEquals(new Map([["a", "1"]]), new Map([["a", "2"]]))), true);
  assertEquals(fails(() => assertEquals(new Map([["a", "1"]]), new Map([["b", "1"]]))), true);
  assertEquals(fails(() => assertEquals(new Map([["a", "1"]]), new Map())), true);
});

Deno.test("assertEquals compares arrays and plain objects deeply", () => {
  assertEquals(fails(() => assertEquals({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })), false);
  assertEquals(fails(() => assertEquals({ a: [1, { b: 2 }] }, { a: [1, { b: 3 }] })), true);
  assertEquals(fails(() => assertEquals({ a: 1 }, { a: 1, b: 2 })), true);
  assertEquals(fails(() => assertEquals({ a: undefined }, { b: undefined })), true);
  assertEquals(fails(() => assertEquals([1, 2], [2, 1])), true);
  assertEquals(fails(() => assertEquals([], {})), true);
  assertEquals(fails(() => assertEquals(null, undefined)), true);
  assertEquals(fails(() => assertEquals(NaN, NaN)), false);
  assertEquals(fails(() => assertEquals("1", 1)), true);
});

Deno.test("assertEquals names both values in its failure message", () => {
  const error = assertThrows(() => assertEquals(Uint8Array.of(0xab), Uint8Array.of(0xcd), "ctx"));
  assertMatch(error.message, /^ctx\n/);
  assertMatch(error.message, /expected Uint8Array\(1\) \[cd\]/);
  assertMatch(error.message, /actual Uint8Array\(1\) \[ab\]/);
});

Deno.test("assertThrows fails when nothing is thrown, or the wrong class or message", () => {
  assertEquals(fails(() => assertThrows(() => 1)), true);
  assertEquals(
    fails(() =>
      assertThrows(() => {
        throw new Error("x");
      }, CustomError)
    ),
    true,
  );
  assertEquals(
    fails(() =>
      assertThrows(
        () => {
          throw new CustomError("abc");
        },
        CustomError,
        "zzz",
      )
    ),
    true,
  );
  const error = assertThrows(
    () => {
      throw new CustomError("abc");
    },
    CustomError,
    "b",
  );
  assertEquals(error instanceof CustomError, true);
});

Deno.test("assertRejects fails when the promise resolves and returns the rejection", async () => {
  let resolvedFailed = false;
  try {
    await assertRejects(() => Promise.resolve(1));
  } catch (error) {
    resolvedFailed = error instanceof AssertionError;
  }
  assertEquals(resolvedFailed, true);
  const error = await assertRejects(() => Promise.reject(new CustomError("no")), CustomError, "no");
  assertEquals(error.message, "no");
});

Deno.test("assertMatch fails when the string does not match", () => {
  assertEquals(fails(() => assertMatch("abc", /b/)), false);
  assertEquals(fails(() => assertMatch("abc", /^b/)), true);
});
