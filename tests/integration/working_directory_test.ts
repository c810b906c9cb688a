/**
 * pgtls loads nothing from the directory it is started in: a `bunfig.toml`
 * preload, a `.env`, a `tsconfig.json` or `deno.json` that remaps an import,
 * a `package.json` or a `node_modules` beside it change nothing, under every
 * target (the executable, `deno run`, `bun` as the README runs it, and the
 * Node.js bundle), with one process and with workers.
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { proxyConfig, spawnPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { stringify } from "yaml";

const root = new URL("../../", import.meta.url).pathname;

/** What each hostile file's code does when it runs: it leaves this file behind. */
const MARKER = "LOADED";

/**
 * A directory of files that would run code in pgtls or change its settings
 * if any runtime loaded them from its working directory.
 */
async function hostileDirectory(parent: string): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "cwd-" });
  const marker = `${dir}/${MARKER}`;
  // Records that it ran, and what .env set in the process it ran in.
  const payload = `require("node:fs").appendFileSync(${
    JSON.stringify(marker)
  }, "ran with " + process.env.PGTLS_SIGNAL_ECHO_MS + "\\n");\n`;
  await Deno.writeTextFile(`${dir}/evil.cjs`, payload);
  await Deno.writeTextFile(`${dir}/bunfig.toml`, `preload = ["./evil.cjs"]\n`);
  // Read as pgtls's own setting, this value is a usage error: serve would exit 2.
  await Deno.writeTextFile(`${dir}/.env`, "PGTLS_SIGNAL_ECHO_MS=not-a-number\n");
  const remap = { yaml: ["./evil.cjs"] };
  await Deno.writeTextFile(
    `${dir}/tsconfig.json`,
    JSON.stringify({ compilerOptions: { baseUrl: ".", paths: remap } }),
  );
  await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports: { yaml: "./evil.cjs" } }));
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({ name: "hostile", type: "commonjs", imports: { "#yaml": "./evil.cjs" } }),
  );
  await Deno.mkdir(`${dir}/node_modules/yaml`, { recursive: true });
  await Deno.writeTextFile(`${dir}/node_modules/yaml/index.js`, payload);
  await Deno.writeTextFile(
    `${dir}/node_modules/yaml/package.json`,
    JSON.stringify({ name: "yaml", version: "2.9.1", main: "index.js" }),
  );
  return dir;
}

async function markerLeft(dir: string): Promise<boolean> {
  try {
    await Deno.stat(`${dir}/${MARKER}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The premise: the directory does run code in a runtime that loads it, here
 * `bun mod.ts` without the README's flags, which runs the preload with
 * `.env` loaded. Were the files inert, the tests
 * below would pass whatever pgtls did.
 */
async function assertHostile(dir: string): Promise<void> {
  const output = await new Deno.Command(`${root}node_modules/.bin/bun`, {
    args: [`${root}mod.ts`, "--version"],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(output.success, new TextDecoder().decode(output.stderr));
  const left = await Deno.readTextFile(`${dir}/${MARKER}`).catch(() => "");
  assertEquals(left, "ran with not-a-number\n", "bun without its sealing flags loads both");
  await Deno.remove(`${dir}/${MARKER}`);
}

for (const workers of [1, 2]) {
  Deno.test(`pgtls with ${workers} worker(s) loads no preload, .env, tsconfig, deno.json, package.json or node_modules from its working directory`, async () => {
    const { dir, certs, pg } = await fixture();
    const hostile = await hostileDirectory(dir);
    await assertHostile(hostile);
    const config = `${dir}/cwd-${workers}.yaml`;
    await Deno.writeTextFile(
      config,
      stringify({
        log: { level: "debug", format: "json" },
        workers,
        proxies: [proxyConfig(certs, pg.port)],
      }),
    );
    const pgtls = await spawnPgtls(["--config", config], { cwd: hostile });
    try {
      if (workers > 1) await pgtls.waitForLog((l) => l.msg === "pgtls started");
      // A session reads the YAML, TLS and every module a session needs.
      const result = await psql(
        { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" },
        "SELECT 1",
      );
      assertEquals(result.stdout.trim(), "1");
    } finally {
      // .env's value would have made serve exit 2 before listening; it exits 0 here.
      assertEquals(await pgtls.stop(), 0);
    }
    assert(!(await markerLeft(hostile)), "code from the working directory ran in pgtls");
  });
}
