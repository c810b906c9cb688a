/**
 * The published forms: the npm package (`npx pgtls`) built from the packed
 * tarball, run under this machine's Node.js, and the JSR package (`deno run
 * jsr:@pgtls/pgtls`), checked by `deno publish --dry-run`. Each runs once,
 * under the target it stands for.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { run } from "../helpers/run.ts";
import { TARGET } from "../helpers/pgtls.ts";
import { VERSION } from "../../src/version.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "npm pack gives a package of the bundle whose pgtls bin runs under Node.js (npx pgtls)",
  ignore: TARGET !== "node",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pgtls-pack-" });
    try {
      // The suite built dist/pgtls.mjs; prepack would build it again.
      const packed = await run("npm", [
        "pack",
        "--ignore-scripts",
        "--json",
        "--pack-destination",
        dir,
      ], { cwd: root });
      const [manifest] = JSON.parse(packed.stdout) as {
        filename: string;
        files: { path: string }[];
      }[];
      assertEquals(
        manifest!.files.map((f) => f.path).sort(),
        ["CHANGELOG.md", "LICENSE", "README.md", "dist/pgtls.mjs", "package.json"],
      );
      const prefix = `${dir}/prefix`;
      await Deno.mkdir(prefix);
      await run("npm", [
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        `${dir}/${manifest!.filename}`,
      ], { cwd: prefix });
      const version = await run("npx", ["--no-install", "pgtls", "--version"], { cwd: prefix });
      assertMatch(version.stdout, new RegExp(`^pgtls ${VERSION.replaceAll(".", "\\.")} \\(node `));
      // The bundle carries its dependencies: the package needs none installed.
      const installed = [...Deno.readDirSync(`${prefix}/node_modules`)].map((e) => e.name);
      assertEquals(installed.filter((name) => !name.startsWith(".")), ["pgtls"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deno publish --dry-run accepts the JSR package: mod.ts and src/, no slow types, no tests",
  ignore: TARGET !== "deno",
  async fn() {
    const result = await run(`${root}node_modules/.bin/deno`, [
      "publish",
      "--dry-run",
      "--allow-dirty",
    ], { cwd: root, env: { NO_COLOR: "1" } });
    const output = result.stdout + result.stderr;
    assertMatch(output, /Dry run complete/);
    assertMatch(output, /mod\.ts/);
    assertMatch(output, /src\/proxy\/session\.ts/);
    assert(!/\/tests\//.test(output), `tests are not published:\n${output}`);
  },
});
