import { assertEquals } from "../helpers/assert.ts";
import { VERSION } from "../../src/version.ts";

Deno.test("VERSION matches deno.json and package.json", async () => {
  const root = new URL("../../", import.meta.url);
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const pkg = JSON.parse(await Deno.readTextFile(new URL("package.json", root)));
  assertEquals(deno.version, VERSION);
  assertEquals(pkg.version, VERSION);
});
