/**
 * Runs the whole test suite (unit and integration) with `deno test` and ends
 * with one line, `tests: N passed, M failed`, for CI.
 *
 * Usage: deno task test [deno test args...]
 * PGTLS_TARGET=deno|bun|node|binary picks how integration tests start pgtls.
 *
 * @module
 */

const root = new URL("../", import.meta.url).pathname;
const deno = Deno.execPath();
const extra = Deno.args.length > 0 ? Deno.args : [`${root}tests/`];

const child = new Deno.Command(deno, {
  args: ["test", "--allow-all", ...extra],
  cwd: root,
  env: { NO_COLOR: "1" },
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
const failed = summary ? Number(summary[2]) : status.success ? 0 : 1;
console.log(`tests: ${passed} passed, ${failed} failed`);
Deno.exit(status.code === 0 && failed === 0 && passed > 0 ? 0 : 1);
