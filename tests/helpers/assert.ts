/**
 * A tiny assertion library for the tests, because `jsr:@std/assert` cannot be
 * fetched here. Every failure throws {@link AssertionError}.
 *
 * @module
 */

/** Thrown when an assertion fails. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** A constructor of errors, used to check what was thrown (any parameter list fits `never[]`). */
export type ErrorClass<E extends Error = Error> = new (...args: never[]) => E;

/** Fails with `msg` unless `cond` is truthy. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

/**
 * Fails unless `actual` and `expected` are deeply equal. Compares primitives
 * with `Object.is`, byte arrays byte by byte, Maps and Sets by content (Map
 * keys by identity), arrays element-wise and plain objects by own enumerable keys.
 */
export function assertEquals(actual: unknown, expected: unknown, msg?: string): void {
  if (equal(actual, expected)) return;
  const detail = `expected ${format(expected)}\n  actual ${format(actual)}`;
  throw new AssertionError(msg ? `${msg}\n${detail}` : `values differ:\n${detail}`);
}

/**
 * Calls `fn` and fails unless it throws; when given, checks the error's class
 * and that its message includes `messageIncludes`. Returns the error.
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass?: ErrorClass<E>,
  messageIncludes?: string,
): E {
  let value: unknown;
  try {
    value = fn();
  } catch (error) {
    return checkError(error, ErrorClass, messageIncludes);
  }
  throw new AssertionError(`expected the function to throw, it returned ${format(value)}`);
}

/**
 * Awaits `fn` and fails unless it rejects; when given, checks the error's
 * class and that its message includes `messageIncludes`. Returns the error.
 */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  ErrorClass?: ErrorClass<E>,
  messageIncludes?: string,
): Promise<E> {
  let value: unknown;
  try {
    value = await fn();
  } catch (error) {
    return checkError(error, ErrorClass, messageIncludes);
  }
  throw new AssertionError(`expected the promise to reject, it resolved to ${format(value)}`);
}

/** Fails unless `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (expected.test(actual)) return;
  const detail = `expected ${JSON.stringify(actual)} to match ${expected}`;
  throw new AssertionError(msg ? `${msg}\n${detail}` : detail);
}

function checkError<E extends Error>(
  error: unknown,
  ErrorClass: ErrorClass<E> | undefined,
  messageIncludes: string | undefined,
): E {
  if (!(error instanceof Error)) {
    throw new AssertionError(`expected an Error to be thrown, got ${format(error)}`);
  }
  if (ErrorClass && !(error instanceof ErrorClass)) {
    throw new AssertionError(
      `expected ${ErrorClass.name} to be thrown, got ${error.name}: ${error.message}`,
    );
  }
  if (messageIncludes !== undefined && !error.message.includes(messageIncludes)) {
    throw new AssertionError(
      `expected the error message to include ${JSON.stringify(messageIncludes)}, got ${
        JSON.stringify(error.message)
      }`,
    );
  }
  return error as E;
}

function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((byte, i) => byte === b[i]);
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [key, value] of a) {
      if (!b.has(key) || !equal(value, b.get(key))) return false;
    }
    return true;
  }
  if (a instanceof Set && b instanceof Set) {
    if (a.size !== b.size) return false;
    for (const value of a) if (!b.has(value)) return false;
    return true;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => equal(item, b[i]));
  }
  const aRecord = a as Record<string, unknown>;
  const bRecord = b as Record<string, unknown>;
  const aKeys = Object.keys(aRecord);
  const bKeys = Object.keys(bRecord);
  if (aKeys.length !== bKeys.length) return false;
  return aKeys.every((key) => Object.hasOwn(bRecord, key) && equal(aRecord[key], bRecord[key]));
}

/** Renders a value for a failure message: bytes as hex, Maps and Sets by content. */
export function format(value: unknown): string {
  if (value instanceof Uint8Array) {
    return `Uint8Array(${value.length}) [${
      Array.from(value, (b) => b.toString(16).padStart(2, "0")).join(" ")
    }]`;
  }
  if (value instanceof Map) {
    return `Map {${[...value].map(([k, v]) => `${format(k)} => ${format(v)}`).join(", ")}}`;
  }
  if (value instanceof Set) return `Set {${[...value].map(format).join(", ")}}`;
  if (Array.isArray(value)) return `[${value.map(format).join(", ")}]`;
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "object" && value !== null && !(value instanceof Date)) {
    return `{${
      Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${format(v)}`).join(", ")
    }}`;
  }
  if (typeof value === "number" && Object.is(value, -0)) return "-0";
  return value === undefined ? "undefined" : String(JSON.stringify(value) ?? value);
}
