/**
 * Runs the whole test suite and ends with one line, `tests: N passed, M
 * failed`, for CI.
 *
 * With no arguments: builds dist/ (the Node.js bundle and the single
 * executable), runs the unit tests once, and runs the integration tests
 * against pgtls started under each target in PGTLS_TARGETS (default
 * `deno,node,bun,binary`). With arguments: one `deno test` run of those paths
 * against PGTLS_TARGET (default deno).
 *
 * Usage: deno task test [paths...]
 *
 * @module
 */

const root = new URL("../", import.meta.url).pathname;
const deno = Deno.execPath();

interface Outcome {
  readonly passed: number;
  readonly failed: number;
}

/** Runs `deno test` on `paths` with PGTLS_TARGET=`target`, echoing its output. */
async function denoTest(paths: readonly string[], target: string): Promise<Outcome> {
  const child = new Deno.Command(deno, {
    args: ["test", "--allow-all", ...paths],
    cwd: root,
    env: { NO_COLOR: "1", PGTLS_TARGET: target },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
  }
  const status = await child.status;
  // deno test's summary: "ok | 120 passed (3 steps) | 0 failed (40s)" or "FAILED | ...".
  const summary = /(?:ok|FAILED) \| (\d+) passed[^|]*\| (\d+) failed/.exec(tail);
  const passed = summary ? Number(summary[1]) : 0;
  const failed = summary ? Number(summary[2]) : 0;
  // A run that failed without a summary (a crash, a type error) counts as one failure.
  return { passed, failed: status.success ? failed : Math.max(failed, 1) };
}

async function build(): Promise<boolean> {
  const { success } = await new Deno.Command(deno, {
    args: ["run", "--allow-all", `${root}scripts/build.ts`],
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return success;
}

const results: [string, Outcome][] = [];
if (Deno.args.length > 0) {
  results.push([
    Deno.env.get("PGTLS_TARGET") ?? "deno",
    await denoTest(Deno.args, Deno.env.get("PGTLS_TARGET") ?? "deno"),
  ]);
} else {
  const targets = (Deno.env.get("PGTLS_TARGETS") ?? "deno,node,bun,binary").split(",");
  if (targets.some((t) => t === "node" || t === "binary") && !(await build())) {
    results.push(["build", { passed: 0, failed: 1 }]);
  }
  results.push(["unit", await denoTest([`${root}tests/unit/`], "deno")]);
  for (const target of targets) {
    console.log(`\n=== integration tests, pgtls under ${target} ===`);
    results.push([target, await denoTest([`${root}tests/integration/`], target)]);
  }
}

for (const [name, { passed, failed }] of results) {
  console.log(`  ${name.padEnd(7)} ${passed} passed / ${failed} failed`);
}
const passed = results.reduce((n, [, r]) => n + r.passed, 0);
const failed = results.reduce((n, [, r]) => n + r.failed, 0);
console.log(`tests: ${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
