/**
 * Builds the distributable forms of pgtls into dist/:
 * - `dist/pgtls.mjs`: one ES module bundle that Node.js 20+ runs (`node dist/pgtls.mjs`);
 * - `dist/pgtls`: a single executable made by `bun build --compile` (works offline);
 * - `dist/pgtls-deno`: a single executable made by `deno compile`, with `--deno`. Deno
 *   downloads its runtime (denort) for that unless DENORT_BIN names a local copy.
 *
 * Usage: deno task build [--deno] [--deno-only] [--target TRIPLE] [--output PATH]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { denoV8Flag } from "../src/runtime/v8_flags.ts";

const root = new URL("../", import.meta.url).pathname;
const bin = `${root}node_modules/.bin`;
const entry = `${root}src/cli/bin.ts`;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    deno: { type: "boolean" },
    "deno-only": { type: "boolean" },
    target: { type: "string" },
    output: { type: "string" },
  },
});

const DENORT_HINT = "deno compile downloads its runtime (denort) from dl.deno.land; without " +
  "network access, set DENORT_BIN to a denort binary of the same Deno version. The single " +
  "executable dist/pgtls (bun build --compile, made by this task unless --deno-only) needs no " +
  "network.";

async function step(
  label: string,
  command: string,
  args: string[],
  hint?: string,
): Promise<void> {
  console.log(`build: ${label}`);
  const { code } = await new Deno.Command(command, {
    args,
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    console.error(`build: ${label} failed (exit ${code})${hint ? `\n${hint}` : ""}`);
    Deno.exit(1);
  }
}

/**
 * An executable from `bun build --compile` would otherwise load `bunfig.toml`
 * (whose `preload` runs any script) and `.env` from the directory it is
 * started in; tsconfig.json and package.json are off by default in Bun 1.4.5
 * and are named so that a new default cannot turn them on.
 * tests/integration/working_directory_test.ts runs it among such files.
 */
const SEALED_EXECUTABLE = [
  "--no-compile-autoload-bunfig",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-tsconfig",
  "--no-compile-autoload-package-json",
];

await Deno.mkdir(`${root}dist`, { recursive: true });
if (!values["deno-only"]) await buildWithBun();
if (values.deno || values["deno-only"]) {
  await step("deno compile", `${bin}/deno`, [
    "compile",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    // node:cluster starts `workers` as child processes.
    "--allow-run",
    // src/runtime/v8_flags.ts: cheap collections, a bounded young generation.
    denoV8Flag(),
    ...(values.target ? ["--target", values.target] : []),
    "--output",
    values.output ?? `${root}dist/pgtls-deno`,
    entry,
  ], Deno.env.get("DENORT_BIN") ? undefined : DENORT_HINT);
}
console.log("build: done");

async function buildWithBun(): Promise<void> {
  await step("dist/pgtls.mjs (Node.js bundle)", `${bin}/bun`, [
    "build",
    entry,
    "--target=node",
    "--format=esm",
    "--outfile",
    `${root}dist/pgtls.mjs`,
  ]);
  await step("dist/pgtls (bun build --compile)", `${bin}/bun`, [
    "build",
    entry,
    "--compile",
    ...SEALED_EXECUTABLE,
    "--outfile",
    `${root}dist/pgtls`,
  ]);
}
