/**
 * The V8 options pgtls is meant to run with on Deno and Node.js. Deno takes
 * them as `--v8-flags=` plus these joined by commas ({@link denoV8Flag}),
 * Node.js as they are; node:cluster workers get them as their execArgv.
 *
 * - `--expose-gc`: the relay's cheap young-generation collections
 *   (`young_collection.ts`).
 * - `--max-semi-space-size=4` (MB): V8 grows its young generation to 16 MB
 *   per semi-space when many sessions open at once and keeps it, which
 *   counted ~16 KiB per idle session on Deno (100 → 84 KiB with 1,000
 *   sessions) and ~5 on Node.js (83 → 78), at no cost in CPU per select or
 *   per GB measured (docs/performance.md). The relay's own collection every
 *   4 MiB already bounds what the young generation needs to hold.
 *
 * The start commands in deno.json and the README carry the same options;
 * tests/unit/v8_flags_test.ts checks that they agree.
 *
 * @module
 */

/** V8 options, in Node.js's command-line form. */
export const V8_FLAGS: readonly string[] = ["--expose-gc", "--max-semi-space-size=4"];

/** The same options as one Deno command-line argument. */
export function denoV8Flag(): string {
  return `--v8-flags=${V8_FLAGS.join(",")}`;
}
