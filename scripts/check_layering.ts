/**
 * Keeps the layering honest: the protocol core, configuration, session logic,
 * TLS helpers and logging import no runtime API and no adapter.
 *
 * Usage: deno run --allow-read scripts/check_layering.ts
 *
 * @module
 */

const root = new URL("../", import.meta.url).pathname;
const CORE_DIRS = ["src/protocol", "src/config", "src/proxy", "src/tls", "src/observe"];
/** Adapter modules the core may import: types and error classes only. */
const ALLOWED_RUNTIME_IMPORTS = new Set(["src/runtime/types.ts", "src/runtime/errors.ts"]);

/** The TypeScript files under `dir`, in its subfolders too. */
async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(`${root}${dir}`)) {
    if (entry.isDirectory) yield* sources(`${dir}/${entry.name}`);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield `${dir}/${entry.name}`;
  }
}

const problems: string[] = [];
for (const dir of CORE_DIRS) {
  for await (const file of sources(dir)) {
    const text = await Deno.readTextFile(`${root}${file}`);
    text.split("\n").forEach((line, i) => {
      const where = `${file}:${i + 1}`;
      const specifier = /(?:from|import)\s*\(?\s*"([^"]+)"/.exec(line)?.[1];
      if (specifier?.startsWith("node:") || specifier?.startsWith("bun")) {
        problems.push(`${where}: imports runtime module ${specifier}`);
      }
      if (specifier?.startsWith(".")) {
        const target = new URL(specifier, `file://${root}${file}`).pathname.slice(root.length);
        if (target.startsWith("src/runtime/") && !ALLOWED_RUNTIME_IMPORTS.has(target)) {
          problems.push(`${where}: imports adapter module ${target}`);
        }
        if (target.startsWith("src/cli/")) problems.push(`${where}: imports the CLI (${target})`);
      }
      const code = line.replace(/\/\/.*$/, "");
      if (/\b(Deno|Bun|process)\s*\./.test(code)) {
        problems.push(`${where}: uses a runtime global: ${line.trim()}`);
      }
    });
  }
}
if (problems.length > 0) {
  console.error(`layering check failed:\n${problems.join("\n")}`);
  Deno.exit(1);
}
console.log(`layering ok: ${CORE_DIRS.join(", ")} use no runtime API`);
