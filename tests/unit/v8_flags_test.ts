import { assert, assertEquals } from "../helpers/assert.ts";
import { denoV8Flag, V8_FLAGS } from "../../src/runtime/v8/flags.ts";

const root = new URL("../../", import.meta.url);

Deno.test("the Deno V8 flag joins every option with commas", () => {
  assertEquals(denoV8Flag(), `--v8-flags=${V8_FLAGS.join(",")}`);
  assert(V8_FLAGS.includes("--expose-gc"), "young_collection.ts needs --expose-gc");
});

Deno.test("deno.json's start task runs pgtls with the V8 options of src/runtime/v8/flags.ts", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const start: string = config.tasks.start;
  assert(start.split(" ").includes(denoV8Flag()), `start task: ${start}`);
});

Deno.test("the README's Deno and Node.js start commands carry the same V8 options", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  assert(readme.includes(`${denoV8Flag()} mod.ts serve`), "README: deno run … mod.ts serve");
  assert(
    readme.includes(`node ${V8_FLAGS.join(" ")} dist/pgtls.mjs serve`),
    "README: node … dist/pgtls.mjs serve",
  );
});
