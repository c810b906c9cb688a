/**
 * Fuzzes StartupReader with random bytes and mutations of valid packets, fed
 * in random chunk splits. The only allowed outcomes are "needs more", a
 * result that accounts for every byte fed, or a StartupProtocolError.
 *
 * Reproduce a failure with `PGTLS_FUZZ_SEED=<seed>`; change the amount of work
 * with `PGTLS_FUZZ_ITERATIONS=<n>` (default 100000).
 */

import {
  StartupProtocolError,
  StartupReader,
  type StartupReadResult,
} from "../../src/protocol/startup_reader.ts";
import {
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  SSL_REQUEST_CODE,
} from "../../src/protocol/codes.ts";
import { AssertionError } from "../helpers/assert.ts";
import {
  cancelRequest,
  concat,
  gssencRequest,
  sslRequest,
  startupMessage,
  tlsClientHelloStart,
  toHex,
  u32,
} from "../helpers/packets.ts";

/** Reads an environment variable, or `undefined` without --allow-env. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function positiveInteger(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number: ${text}`);
  return n;
}

const SEED = (positiveInteger(env("PGTLS_FUZZ_SEED"), "PGTLS_FUZZ_SEED") ??
  crypto.getRandomValues(new Uint32Array(1))[0]!) >>> 0;
const ITERATIONS = positiveInteger(env("PGTLS_FUZZ_ITERATIONS"), "PGTLS_FUZZ_ITERATIONS") ??
  100_000;

/** mulberry32: a small, fast, seeded 32-bit PRNG. */
class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.uint32() / 0x1_0000_0000) * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  chance(p: number): boolean {
    return this.uint32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.uint32() & 0xff;
    return out;
  }

  text(maxLength: number): string {
    const alphabet = "abcdefghijklmnopqrstuvwxyz_.0123456789-é☃";
    let out = "";
    for (let n = this.below(maxLength + 1); n > 0; n--) out += this.pick([...alphabet]);
    return out;
  }
}

/** A valid first packet of a random kind. */
function validPacket(random: Random): Uint8Array {
  switch (random.below(6)) {
    case 0:
      return sslRequest();
    case 1:
      return gssencRequest();
    case 2:
      return cancelRequest(
        random.uint32(),
        random.bytes(random.chance(0.5) ? 4 : random.between(4, 256)),
      );
    case 3:
      return concat(tlsClientHelloStart(), random.bytes(random.below(40)));
    default: {
      const parameters: [string, string][] = [["user", random.text(12)]];
      for (let n = random.below(4); n > 0; n--) {
        parameters.push([random.text(10) || "x", random.text(20)]);
      }
      return startupMessage(parameters, random.chance(0.5) ? 0 : random.below(4));
    }
  }
}

/** One random mutation of `bytes`. */
function mutate(random: Random, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  switch (random.below(8)) {
    case 0: { // bit flips
      for (let n = random.between(1, 3); n > 0 && out.length > 0; n--) {
        out[random.below(out.length)]! ^= 1 << random.below(8);
      }
      return out;
    }
    case 1: // truncation
      return out.subarray(0, random.below(out.length + 1));
    case 2: { // length field tweak
      if (out.length < 4) return out;
      const length = (out[0]! << 24 >>> 0) + (out[1]! << 16) + (out[2]! << 8) + out[3]!;
      const tweaked = random.pick([
        length + random.between(-3, 3),
        random.below(16),
        random.between(9990, 10010),
        random.uint32(),
        out.length,
      ]);
      out.set(u32(tweaked >>> 0), 0);
      return out;
    }
    case 3: { // insertion
      const at = random.below(out.length + 1);
      return concat(out.subarray(0, at), random.bytes(random.between(1, 8)), out.subarray(at));
    }
    case 4: { // deletion
      const at = random.below(out.length + 1);
      return concat(out.subarray(0, at), out.subarray(at + random.between(1, 8)));
    }
    case 5: { // code replacement
      if (out.length < 8) return out;
      out.set(
        u32(
          random.pick([
            SSL_REQUEST_CODE,
            GSSENC_REQUEST_CODE,
            CANCEL_REQUEST_CODE,
            3 << 16,
            2 << 16,
            random.uint32(),
          ]),
        ),
        4,
      );
      return out;
    }
    case 6: // trailing bytes, as when packets are coalesced
      return concat(out, random.chance(0.5) ? validPacket(random) : random.bytes(random.below(20)));
    default: { // NUL bytes in the parameter area
      for (let n = random.between(1, 3); n > 0 && out.length > 8; n--) {
        out[random.between(8, out.length - 1)] = random.chance(0.5) ? 0 : 0x41;
      }
      return out;
    }
  }
}

/** A random input: random bytes, a valid packet, or a valid packet mutated once or more. */
function generate(random: Random): Uint8Array {
  const choice = random.below(10);
  if (choice === 0) return random.bytes(random.below(24));
  if (choice === 1) {
    // random bytes behind a plausible length word
    const body = random.bytes(random.below(40));
    return concat(u32(8 + body.length + random.between(-2, 2)), body);
  }
  let bytes = validPacket(random);
  if (choice === 2) return bytes;
  for (let n = random.between(1, 3); n > 0; n--) bytes = mutate(random, bytes);
  return bytes;
}

/** Random chunks covering `bytes`, empty chunks included now and then. */
function split(random: Random, bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const mode = random.below(4);
  while (offset < bytes.length) {
    const size = mode === 0
      ? bytes.length
      : mode === 1
      ? 1
      : random.chance(0.1)
      ? 0
      : random.between(1, Math.max(1, Math.ceil(bytes.length / 3)));
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** What became of one input, comparable between splits. */
type Outcome = "incomplete" | `packet:${string}` | `error:${string}`;

/**
 * Feeds `input` in `chunks` and checks every invariant; returns a problem
 * description, or the outcome when all held.
 */
function feed(input: Uint8Array, chunks: readonly Uint8Array[]): Outcome | { problem: string } {
  const reader = new StartupReader();
  let fed = 0;
  for (const chunk of chunks) {
    fed += chunk.length;
    let result: StartupReadResult | undefined;
    try {
      result = reader.push(chunk);
    } catch (error) {
      if (error instanceof StartupProtocolError) {
        if (!["08P01", "0A000"].includes(error.sqlState)) {
          return { problem: `unexpected SQLSTATE ${error.sqlState} for ${error.code}` };
        }
        return `error:${error.code}`;
      }
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { problem: `threw something other than StartupProtocolError: ${detail}` };
    }
    if (result === undefined) {
      if (reader.buffered !== fed) {
        return { problem: `needs more but buffered ${reader.buffered} of ${fed} bytes fed` };
      }
      if (fed > 0 && input[0] === 0x16) {
        return { problem: "needs more although the first byte is a TLS record type" };
      }
      if (fed >= 4) {
        const length = (input[0]! << 24 >>> 0) + (input[1]! << 16) + (input[2]! << 8) + input[3]!;
        if (fed >= length) {
          return { problem: `needs more although ${fed} bytes of a ${length}-byte packet came` };
        }
      }
      continue;
    }
    if (result.bytes.length + result.leftover.length !== fed) {
      return {
        problem:
          `bytes (${result.bytes.length}) + leftover (${result.leftover.length}) != ${fed} fed`,
      };
    }
    if (result.packet.kind === "direct_tls") {
      if (input[0] !== 0x16) return { problem: "direct_tls without a leading 0x16" };
      if (!sameBytes(result.leftover, input.subarray(0, fed))) {
        return { problem: "direct_tls leftover is not every byte fed" };
      }
      return "packet:direct_tls";
    }
    const length = (input[0]! << 24 >>> 0) + (input[1]! << 16) + (input[2]! << 8) + input[3]!;
    if (!sameBytes(result.bytes, input.subarray(0, length))) {
      return { problem: `bytes are not the first ${length} bytes of the input` };
    }
    if (!sameBytes(result.leftover, input.subarray(length, fed))) {
      return { problem: "leftover is not the bytes fed after the packet" };
    }
    if (reader.buffered !== 0) return { problem: `buffered ${reader.buffered} after a result` };
    return `packet:${result.packet.kind}`;
  }
  return "incomplete";
}

Deno.test(
  `StartupReader only needs more, reads a packet or throws StartupProtocolError for ${ITERATIONS} fuzzed inputs (seed ${SEED})`,
  () => {
    const random = new Random(SEED);
    const started = performance.now();
    const seen = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      const input = generate(random);
      const chunks = split(random, input);
      const outcome = feed(input, chunks);
      // The same bytes pushed whole must end the same way as in chunks.
      const whole = feed(input, [input]);
      if (typeof outcome !== "string" || typeof whole !== "string" || outcome !== whole) {
        const problem = typeof outcome !== "string"
          ? outcome.problem
          : typeof whole !== "string"
          ? `fed whole: ${whole.problem}`
          : `fed in chunks: ${outcome}, fed whole: ${whole}`;
        throw new AssertionError(
          `fuzz failure at iteration ${i} (PGTLS_FUZZ_SEED=${SEED}): ${problem}\n` +
            `  input ${toHex(input)}\n  chunk sizes ${chunks.map((c) => c.length).join(",")}`,
        );
      }
      seen.set(whole, (seen.get(whole) ?? 0) + 1);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `startup fuzz: ${ITERATIONS} inputs, seed ${SEED}, ${seconds.toFixed(2)} s; outcomes ${
        JSON.stringify(Object.fromEntries([...seen].sort()))
      }`,
    );
    // The generator must reach every kind of outcome, or the fuzzing proves little.
    if (ITERATIONS >= 10_000) {
      const expected = [
        "incomplete",
        "packet:ssl_request",
        "packet:gssenc_request",
        "packet:cancel_request",
        "packet:startup",
        "packet:direct_tls",
        "error:INVALID_LENGTH",
        "error:UNKNOWN_REQUEST_CODE",
        "error:UNSUPPORTED_PROTOCOL",
        "error:INVALID_LAYOUT",
      ];
      const missing = expected.filter((o) => !seen.has(o));
      if (missing.length > 0) {
        throw new AssertionError(`seed ${SEED}: no input ended as ${missing.join(", ")}`);
      }
    }
  },
);
