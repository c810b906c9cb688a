/**
 * Keeps the layering honest, as rules rather than a list of exceptions:
 *
 * - `src/protocol` imports nothing of pgtls's but itself; `src/io` (the port:
 *   the types and errors the core owns) imports only `src/protocol`.
 * - No file outside `src/runtime/` imports it, but the entry points
 *   (`mod.ts`, `src/cli/entry.ts`): the core reaches a runtime only through
 *   the port, injected.
 * - The core (`src/protocol`, `src/io`, `src/config`, `src/proxy`,
 *   `src/prepare`, `src/serve`, `src/tls`, `src/observe`, `src/cli` but its
 *   entry) uses no runtime API: no `node:` or `bun` module (the CLI's
 *   `parseArgs` from `node:util` aside), no `Deno`, `Bun` or `process`
 *   global; and nothing there imports the CLI.
 * - The session engine (`src/proxy`) imports neither the config-time
 *   preparation (`src/prepare`) nor the serve lifecycle (`src/serve`), and
 *   the preparation does not import the lifecycle: each is given what the
 *   one above it made.
 * - No import cycle runs between folders (`src/<folder>`, `mod.ts`), nor
 *   between files: a module that imports one that imports it back (as
 *   `metrics.ts` and `session.ts` once did) can be understood, tested and
 *   moved only with it.
 * - No runtime's folder imports another's: `src/runtime/deno/`, `bun/` and
 *   `node/` may share only `node_tls_shared/`, `host/` and `v8/`.
 * - The shared folders import no runtime's folder, and the code of
 *   `node_tls_shared/` and `v8/` names neither Deno nor a TLS library
 *   (`"rustls"`, `"openssl"`, `"boringssl"`): what differs by runtime is
 *   passed in by its adapter (Deno's read gate, rustls's ways, workers' V8
 *   options). (`host/` may: its permission probe asks Deno's API where
 *   there is one.)
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
  "src/prepare",
  "src/serve",
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
/** Folders and those above them, which they may not import. */
const BELOW: Readonly<Record<string, readonly string[]>> = {
  "src/proxy/": ["src/prepare/", "src/serve/"],
  "src/prepare/": ["src/serve/"],
};
/** Each runtime's own folder. */
const RUNTIME_FOLDERS = ["src/runtime/deno/", "src/runtime/bun/", "src/runtime/node/"];
/** What the runtimes share: told by each adapter what differs. */
const SHARED_FOLDERS = ["src/runtime/node_tls_shared/", "src/runtime/host/", "src/runtime/v8/"];
/** Shared folders whose code may not name a runtime or TLS library, and what it may not say. */
const UNAWARE_FOLDERS = ["src/runtime/node_tls_shared/", "src/runtime/v8/"];
const RUNTIME_SWITCH = /\bDeno\b|["'`](rustls|openssl|boringssl)["'`]/;

/** The lines of `text` that are code, with comments cut off, each with its index. */
function codeLines(text: string): [string, number][] {
  return text.split("\n").flatMap((line, i): [string, number][] => {
    const code = line.replace(/\/\/.*$/, "");
    // Block comments' lines (JSDoc); code does not start with `*`.
    return /^\s*(\/\*|\*)/.test(code) ? [] : [[code, i]];
  });
}

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

/** The folder a file belongs to for the cycle rule: `src/<folder>`, or the file itself at the top. */
function folderOf(file: string): string {
  const parts = file.split("/");
  return parts[0] === "src" && parts.length > 2 ? `${parts[0]}/${parts[1]}` : file;
}

/** A cycle in `graph` (folder to the folders it imports), as the path that closes it, or null. */
function findCycle(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] | null {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    const at = path.indexOf(node);
    if (at >= 0) return [...path.slice(at), node];
    if (done.has(node)) return null;
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(node);
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

const problems: string[] = [];
/** Folder to folder imports, with the first import that makes each edge. */
const folderImports = new Map<string, Set<string>>();
const edgeWhere = new Map<string, string>();
/** File to the files it imports. */
const fileImports = new Map<string, Set<string>>();
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
    for (const [folder, above] of Object.entries(BELOW)) {
      if (file.startsWith(folder) && above.some((a) => target.startsWith(a))) {
        problems.push(`${where}: ${folder} imports ${target}, which is above it`);
      }
    }
    if (!fileImports.has(file)) fileImports.set(file, new Set());
    fileImports.get(file)!.add(target);
    const [from, to] = [folderOf(file), folderOf(target)];
    if (from !== to) {
      if (!folderImports.has(from)) folderImports.set(from, new Set());
      folderImports.get(from)!.add(to);
      if (!edgeWhere.has(`${from} ${to}`)) edgeWhere.set(`${from} ${to}`, where);
    }
    const otherRuntime = RUNTIME_FOLDERS.find((folder) =>
      folder !== ownRuntime && target.startsWith(folder)
    );
    if (file.startsWith("src/runtime/") && ownRuntime !== undefined && otherRuntime) {
      problems.push(`${where}: ${ownRuntime} imports another runtime's ${target}`);
    }
    const shared = SHARED_FOLDERS.find((folder) => file.startsWith(folder));
    if (shared !== undefined && otherRuntime) {
      problems.push(`${where}: the shared ${shared} imports the runtime folder ${target}`);
    }
  }
  if (UNAWARE_FOLDERS.some((folder) => file.startsWith(folder))) {
    codeLines(text).forEach(([code, i]) => {
      if (RUNTIME_SWITCH.test(code)) {
        problems.push(
          `${file}:${i + 1}: the shared code names a runtime or TLS library: ${code.trim()}`,
        );
      }
    });
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
const cycle = findCycle(folderImports);
if (cycle) {
  const edges = cycle.slice(1).map((to, i) =>
    `${cycle[i]} -> ${to} (${edgeWhere.get(`${cycle[i]} ${to}`)})`
  );
  problems.push(`import cycle between folders: ${edges.join(", ")}`);
}
const fileCycle = findCycle(fileImports);
if (fileCycle) problems.push(`import cycle between files: ${fileCycle.join(" -> ")}`);
if (problems.length > 0) {
  console.error(`layering check failed:\n${problems.join("\n")}`);
  Deno.exit(1);
}
console.log(
  "layering ok: the port imports only the protocol, only entry points import the adapters, " +
    "the core uses no runtime API, no runtime's folder imports another's, " +
    "the shared runtime folders import none and name no runtime or TLS library, " +
    "the session engine imports neither preparation nor lifecycle, no import cycle",
);
