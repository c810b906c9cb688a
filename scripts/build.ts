/**
 * Builds the distributable forms of pgtls into dist/:
 * - `dist/pgtls.mjs`: one ES module bundle that Node.js 20+ runs (`node dist/pgtls.mjs`, or
 *   the `pgtls` bin of the npm package);
 * - `dist/pgtls`: a single executable made by `bun build --compile` (works offline);
 * - `dist/pgtls-deno`: a single executable made by `deno compile`, with `--deno`. Deno
 *   downloads its runtime (denort) for that unless DENORT_BIN names a local copy.
 *
 * `--platform NAME` builds the release pair for one platform instead:
 * `dist/release/pgtls-NAME` (bun build --compile --target) and, with `--deno`,
 * `dist/release/pgtls-deno-NAME` (deno compile --target). Bun fetches the
 * target's runtime unless it is the machine's own.
 *
 * Usage: deno task build [--bundle-only] [--deno] [--deno-only] [--target TRIPLE]
 *                        [--output PATH] [--platform NAME]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { denoV8Flag } from "../src/runtime/v8/flags.ts";

// A file path on every platform (a URL's pathname is /D:/… on Windows).
const root = fileURLToPath(new URL("../", import.meta.url));
const entry = `${root}src/cli/bin.ts`;
/**
 * The programs themselves, not npm's node_modules/.bin shims (shell scripts,
 * and .cmd files on Windows, which Deno.Command does not run): the bun
 * package's binary is bun.exe on every platform, and deno is this process.
 */
const bun = `${root}node_modules/bun/bin/bun.exe`;
const deno = Deno.execPath();
const { values } = parseArgs({
  args: Deno.args,
  options: {
    "bundle-only": { type: "boolean" },
    deno: { type: "boolean" },
    "deno-only": { type: "boolean" },
    target: { type: "string" },
    output: { type: "string" },
    platform: { type: "string" },
  },
});

/**
 * The platforms releases are built for: Bun's target and Deno's, and the
 * file suffix. x64 takes Bun's baseline runtime: its default one needs AVX2,
 * which older CPUs, some virtual machines' CPU models and Rosetta 2 lack
 * (the illegal instruction would kill pgtls at start). BoringSSL picks its
 * own code for the CPU at run time either way.
 */
const PLATFORMS: Record<string, { bun: string; deno: string; suffix: string }> = {
  "linux-x64": { bun: "bun-linux-x64-baseline", deno: "x86_64-unknown-linux-gnu", suffix: "" },
  "linux-arm64": { bun: "bun-linux-arm64", deno: "aarch64-unknown-linux-gnu", suffix: "" },
  "macos-x64": { bun: "bun-darwin-x64-baseline", deno: "x86_64-apple-darwin", suffix: "" },
  "macos-arm64": { bun: "bun-darwin-arm64", deno: "aarch64-apple-darwin", suffix: "" },
  "windows-x64": {
    bun: "bun-windows-x64-baseline",
    deno: "x86_64-pc-windows-msvc",
    suffix: ".exe",
  },
};

const DENORT_HINT = "deno compile downloads its runtime (denort) from dl.deno.land; without " +
  "network access, set DENORT_BIN to a denort binary of the same Deno version. The single " +
  "executable dist/pgtls (bun build --compile, made by this task unless --deno-only) needs no " +
  "network.";

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

/** What `deno compile` grants the executable, and the V8 flags pgtls runs with. */
function denoCompileArgs(target: string | undefined, output: string): string[] {
  return [
    "compile",
    // Deno 2.9 reads /proc (the open-file limit, a listen address's holder)
    // only with every permission; node:cluster's workers get them anyway.
    "--allow-all",
    // src/runtime/v8/flags.ts: cheap collections, a bounded young generation.
    denoV8Flag(),
    ...(target ? ["--target", target] : []),
    "--output",
    output,
    entry,
  ];
}

function bunCompileArgs(target: string | undefined, output: string): string[] {
  return [
    "build",
    entry,
    "--compile",
    ...SEALED_EXECUTABLE,
    ...(target ? [`--target=${target}`] : []),
    "--outfile",
    output,
  ];
}

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

async function bundle(): Promise<void> {
  await step("dist/pgtls.mjs (Node.js bundle)", bun, [
    "build",
    entry,
    "--target=node",
    "--format=esm",
    // So that npm can link it as the package's `pgtls` bin.
    "--banner=#!/usr/bin/env node",
    "--outfile",
    `${root}dist/pgtls.mjs`,
  ]);
}

async function release(name: string): Promise<void> {
  const platform = PLATFORMS[name];
  if (platform === undefined) {
    console.error(`build: --platform must be one of ${Object.keys(PLATFORMS).join(", ")}`);
    Deno.exit(2);
  }
  await Deno.mkdir(`${root}dist/release`, { recursive: true });
  const bunOutput = `${root}dist/release/pgtls-${name}${platform.suffix}`;
  await step(`${bunOutput} (bun build --compile)`, bun, [
    ...bunCompileArgs(platform.bun, bunOutput),
  ]);
  if (values.deno) {
    const denoOutput = `${root}dist/release/pgtls-deno-${name}${platform.suffix}`;
    await step(
      `${denoOutput} (deno compile)`,
      deno,
      denoCompileArgs(platform.deno, denoOutput),
      Deno.env.get("DENORT_BIN") ? undefined : DENORT_HINT,
    );
  }
}

await Deno.mkdir(`${root}dist`, { recursive: true });
if (values.platform !== undefined) {
  await release(values.platform);
} else {
  if (!values["deno-only"]) {
    await bundle();
    if (!values["bundle-only"]) {
      await step(
        "dist/pgtls (bun build --compile)",
        bun,
        bunCompileArgs(undefined, `${root}dist/pgtls`),
      );
    }
  }
  if (values.deno || values["deno-only"]) {
    await step(
      "deno compile",
      deno,
      denoCompileArgs(values.target, values.output ?? `${root}dist/pgtls-deno`),
      Deno.env.get("DENORT_BIN") ? undefined : DENORT_HINT,
    );
  }
}
console.log("build: done");
