/**
 * Runs one pgtls for scripts/driver_suites.ts, under the target PGTLS_TARGET
 * names, as the integration tests start it (tests/helpers/pgtls.ts).
 *
 * Usage: PGTLS_TARGET=deno|node|bun|binary deno run -A scripts/suites/serve_pgtls.ts DIR CONFIG_JSON
 *
 * Prints one JSON line, {"port": N}, once pgtls listens; when its stdin ends
 * (the parent is done, or gone) stops pgtls and prints
 * {"exit": CODE, "ends": {REASON: COUNT, ...}}: how pgtls exited and how
 * its sessions ended, by the reason it logged.
 *
 * @module
 */

import { startPgtls } from "../../tests/helpers/pgtls.ts";

const [dir, configJson] = Deno.args;
if (dir === undefined || configJson === undefined) {
  console.error("usage: serve_pgtls.ts DIR CONFIG_JSON");
  Deno.exit(2);
}
const pgtls = await startPgtls(dir, JSON.parse(configJson) as Record<string, unknown>);
console.log(JSON.stringify({ port: pgtls.port }));
for await (const _ of Deno.stdin.readable) { /* until the parent closes it */ }
const exit = await pgtls.stop();
const ends: Record<string, number> = {};
for (const line of pgtls.logs) {
  if (line.msg !== "session closed") continue;
  const reason = String(line.reason);
  ends[reason] = (ends[reason] ?? 0) + 1;
}
console.log(JSON.stringify({ exit, ends }));
