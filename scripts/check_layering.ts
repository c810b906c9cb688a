/**
 * Keeps the layering honest, as rules rather than a list of exceptions:
 *
 * - `src/protocol` imports nothing of pgtls's but itself; `src/io` (the port:
 *   the types and errors the core owns) imports only `src/protocol`.
 * - No file outside `src/runtime/` imports it, but the entry points
 *   (`mod.ts`, `src/cli/entry.ts`): the core reaches a runtime only through
 *   the port, injected.
 * - The core (`src/protocol`, `src/io`, `src/config`, `src/proxy`,
 *   `src/tls`, `src/observe`, `src/cli` but its entry) uses no runtime API:
 *   no `node:` or `bun` module (the CLI's `parseArgs` from `node:util`
 *   aside), no `Deno`, `Bun` or `process` global; and nothing there imports
 *   the CLI.
 * - No runtime's folder imports another's: `src/runtime/deno/`, `bun/` and
 *   `node/` may share only `node_tls_shared/`, `host/` and `v8/`.
 *
 * Usage: deno run --allow-read scripts/check_layering.ts
 *
 * @module
 */

const root = new URL("../", import.meta.url).pathname;

/** Where runtime APIs may not be used. */
const CORE_DIRS = [
  "src/protocol",
  "src/io",
  "src/config",
  "src/proxy",
  "src/tls",
  "src/observe",
  "src/cli",
];
/** Files that pick and start a runtime: they alone may import `src/runtime/`. */
const ENTRY_POINTS = new Set(["mod.ts", "src/cli/entry.ts"]);
/**
 * What the CLI may take from `node:`: `parseArgs`, a pure function every
 * runtime provides alike.
 */
const CLI_MODULES = new Set(["node:util"]);
/** Each runtime's own folder. */
const RUNTIME_FOLDERS = ["src/runtime/deno/", "src/runtime/bun/", "src/runtime/node/"];

/** The TypeScript files under `dir`, in its subfolders too. */
async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(`${root}${dir}`)) {
    if (entry.isDirectory) yield* sources(`${dir}/${entry.name}`);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield `${dir}/${entry.name}`;
  }
}

/** Every import specifier of `text`, with its line number. */
function imports(text: string): { specifier: string; line: number }[] {
  const found: { specifier: string; line: number }[] = [];
  text.split("\n").forEach((line, i) => {
    for (const match of line.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
      found.push({ specifier: match[1]!, line: i + 1 });
    }
  });
  return found;
}

function resolve(file: string, specifier: string): string {
  return new URL(specifier, `file://${root}${file}`).pathname.slice(root.length);
}

const problems: string[] = [];
const files = ["mod.ts"];
for await (const file of sources("src")) files.push(file);

for (const file of files) {
  const text = await Deno.readTextFile(`${root}${file}`);
  const core = CORE_DIRS.some((dir) => file.startsWith(`${dir}/`)) && !ENTRY_POINTS.has(file);
  const ownRuntime = RUNTIME_FOLDERS.find((folder) => file.startsWith(folder));
  for (const { specifier, line } of imports(text)) {
    const where = `${file}:${line}`;
    if (
      core && (specifier.startsWith("node:") || specifier.startsWith("bun")) &&
      !(file.startsWith("src/cli/") && CLI_MODULES.has(specifier))
    ) {
      problems.push(`${where}: imports runtime module ${specifier}`);
    }
    if (!specifier.startsWith(".")) continue;
    const target = resolve(file, specifier);
    if (file.startsWith("src/protocol/") && !target.startsWith("src/protocol/")) {
      problems.push(`${where}: the protocol imports ${target}`);
    }
    if (
      file.startsWith("src/io/") && !target.startsWith("src/io/") &&
      !target.startsWith("src/protocol/")
    ) {
      problems.push(`${where}: the port imports ${target} (it may import only src/protocol)`);
    }
    if (
      target.startsWith("src/runtime/") && !file.startsWith("src/runtime/") &&
      !ENTRY_POINTS.has(file)
    ) {
      problems.push(`${where}: imports the adapter ${target} (only entry points may)`);
    }
    if (core && target.startsWith("src/cli/") && !file.startsWith("src/cli/")) {
      problems.push(`${where}: imports the CLI (${target})`);
    }
    const otherRuntime = RUNTIME_FOLDERS.find((folder) =>
      folder !== ownRuntime && target.startsWith(folder)
    );
    if (file.startsWith("src/runtime/") && ownRuntime !== undefined && otherRuntime) {
      problems.push(`${where}: ${ownRuntime} imports another runtime's ${target}`);
    }
  }
  if (core) {
    text.split("\n").forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "");
      // Block comments' lines (JSDoc) speak of processes; code does not start with `*`.
      if (/^\s*(\/\*|\*)/.test(code)) return;
      if (/\b(Deno|Bun|process)\s*\./.test(code)) {
        problems.push(`${file}:${i + 1}: uses a runtime global: ${line.trim()}`);
      }
    });
  }
}
if (problems.length > 0) {
  console.error(`layering check failed:\n${problems.join("\n")}`);
  Deno.exit(1);
}
console.log(
  "layering ok: the port imports only the protocol, only entry points import the adapters, " +
    "the core uses no runtime API, no runtime's folder imports another's",
);
