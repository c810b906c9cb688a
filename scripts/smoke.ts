/**
 * The release smoke test: starts a pgtls executable the way its README does,
 * in front of a throwaway PostgreSQL with TLS and scram-sha-256 passwords,
 * logs in through it with psql (verify-full to pgtls, verify-full from pgtls
 * to the database), checks that both legs are encrypted, stops it with
 * SIGTERM and expects exit code 0. Needs PostgreSQL's server programs
 * (`PGTLS_PG_BIN`, default /usr/lib/postgresql/15/bin), psql and openssl.
 *
 * Usage: deno task smoke EXECUTABLE [ARGS...]   (e.g. dist/pgtls, or node dist/pgtls.mjs)
 *
 * @module
 */

import { fixture } from "../tests/helpers/fixture.ts";
import { psql } from "../tests/helpers/clients.ts";
import { freePort } from "../tests/helpers/run.ts";

const [program, ...programArgs] = Deno.args;
if (program === undefined) {
  console.error("usage: deno task smoke EXECUTABLE [ARGS...]");
  Deno.exit(2);
}

function fail(message: string, log = ""): never {
  console.error(`smoke: FAILED: ${message}${log ? `\n--- pgtls log ---\n${log}` : ""}`);
  Deno.exit(1);
}

const { dir, certs, pg } = await fixture();
const port = freePort();
const config = `${dir}/smoke.yaml`;
await Deno.writeTextFile(
  config,
  [
    "proxies:",
    "  - listener:",
    `      bind_address: 127.0.0.1:${port}`,
    `      tls: { cert_file: ${certs.proxy.cert}, key_file: ${certs.proxy.key} }`,
    "    backend:",
    `      address: 127.0.0.1:${pg.port}`,
    "      tls_enabled: true",
    "      tls_verify: full",
    `      ca_file: ${certs.dbCa}`,
    "      server_name: db.pgtls.test",
  ].join("\n") + "\n",
);
const child = new Deno.Command(program, {
  args: [...programArgs, "serve", "--config", config],
  stdin: "null",
  stdout: "null",
  stderr: "piped",
}).spawn();

let log = "";
const reading = (async () => {
  const decoder = new TextDecoder();
  for await (const chunk of child.stderr) log += decoder.decode(chunk, { stream: true });
})();

const deadline = Date.now() + 30_000;
while (!log.includes("pgtls started")) {
  if (Date.now() > deadline) {
    child.kill("SIGKILL");
    fail("pgtls did not start within 30 s", log);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
console.log(`smoke: ${program} listens on 127.0.0.1:${port}`);

const result = await psql(
  { port, caFile: certs.proxyCa, extra: "channel_binding=disable" },
  "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
  { check: false },
);
if (result.code !== 0) {
  child.kill("SIGKILL");
  fail(`psql through pgtls failed: ${result.stderr.trim()}`, log);
}
if (result.stdout.trim() !== "t") {
  child.kill("SIGKILL");
  fail(`the backend leg is not encrypted (pg_stat_ssl.ssl = ${result.stdout.trim()})`, log);
}
console.log("smoke: psql logged in through pgtls; both legs are TLS");

child.kill("SIGTERM");
const status = await child.status;
await reading;
if (status.code !== 0) fail(`pgtls exited ${status.code} after SIGTERM`, log);
if (!log.includes("stopped")) fail("pgtls did not log that it stopped", log);
console.log("smoke: SIGTERM: pgtls drained and exited 0");
console.log("smoke: ok");
