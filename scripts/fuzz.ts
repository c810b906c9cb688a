/**
 * A longer fuzz of the startup reader than CI's 100,000 inputs: runs
 * tests/unit/startup_fuzz_test.ts with more iterations and, unless a seed is
 * given, a fresh random seed (printed by the test when an input fails).
 *
 * Usage: deno task fuzz [ITERATIONS] [SEED]   (default 5,000,000 iterations)
 *
 * @module
 */

const [iterations = "5000000", seed] = Deno.args;
if (!/^[1-9]\d*$/.test(iterations) || (seed !== undefined && !/^\d+$/.test(seed))) {
  console.error("usage: deno task fuzz [ITERATIONS] [SEED] (whole numbers, ITERATIONS > 0)");
  Deno.exit(2);
}
const root = new URL("../", import.meta.url).pathname;
const { code } = await new Deno.Command(Deno.execPath(), {
  args: ["test", "--allow-env", `${root}tests/unit/startup_fuzz_test.ts`],
  cwd: root,
  env: {
    PGTLS_FUZZ_ITERATIONS: iterations,
    ...(seed ? { PGTLS_FUZZ_SEED: seed } : {}),
  },
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(code);
