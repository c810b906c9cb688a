/**
 * pgtls embedded through `mod.ts`: the README's example program, run as it
 * is written, and `serve`'s handle driven from code with a real client
 * holding a session: a reload serves new sessions the new certificate, a
 * drain frees the port while the session in a transaction finishes.
 *
 * The library runs in the runtime that imports it, so the example runs on
 * Deno and Bun (PGTLS_TARGET=bun); Node.js and the executable run no
 * TypeScript of a program's own. The in-process test runs under the test
 * runner, Deno, once (PGTLS_TARGET=deno).
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { BUN_SEALED, type LogLine, TARGET } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { Psql } from "../helpers/interactive_psql.ts";
import { freePort, run } from "../helpers/run.ts";
import { settle } from "../helpers/settle.ts";
import { detectRuntime, nodeHost, parseConfig, serve } from "../../mod.ts";

const root = new URL("../../", import.meta.url).pathname;
const bin = `${root}node_modules/.bin`;

/** The README's embedding example, as written there. */
async function readmeExample(): Promise<string> {
  const readme = await Deno.readTextFile(`${root}README.md`);
  const start = readme.indexOf("<!-- embedding example");
  assert(start >= 0, "the README has its embedding example");
  const code = /```ts\n([\s\S]*?)```/.exec(readme.slice(start));
  assert(code !== null, "the embedding example is a ts block");
  return code[1]!;
}

/** A config file of one proxy in front of the fixture's PostgreSQL, on a free port. */
async function writeConfig(path: string, cert: string, key: string): Promise<number> {
  const { pg } = await fixture();
  const port = freePort();
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      log: { format: "json" },
      shutdown_timeout: "10m",
      proxies: [{
        listener: { bind_address: `127.0.0.1:${port}`, tls: { cert_file: cert, key_file: key } },
        backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
      }],
    }),
  );
  return port;
}

Deno.test({
  name: "the README's embedding example starts pgtls, reloads its file and drains it",
  ignore: TARGET !== "deno" && TARGET !== "bun",
  async fn() {
    const { dir, certs } = await fixture();
    const config = `${dir}/embedding-example.yaml`;
    await writeConfig(config, certs.proxy.cert, certs.proxy.key);
    const program = `${dir}/embedding_example.ts`;
    const example = await readmeExample();
    await Deno.writeTextFile(
      program,
      example.replace('"jsr:@pgtls/pgtls"', JSON.stringify(`${root}mod.ts`))
        .replace('"/etc/pgtls/pgtls.yaml"', JSON.stringify(config))
        .replace('"/etc/pgtls"', JSON.stringify(dir)),
    );
    const [command, args] = TARGET === "bun"
      ? [`${bin}/bun`, [...BUN_SEALED, program]]
      : [`${bin}/deno`, ["run", "--allow-all", `--config=${root}deno.json`, program]];
    const result = await run(command, args, { check: false });
    assertEquals(result.code, 0, result.stderr);
    assertEquals(result.stdout, "pgtls stopped: 0\n");
    const logs = result.stderr.trim().split("\n").map((line) => JSON.parse(line) as LogLine);
    const lifecycle = [
      "pgtls started",
      "configuration reloaded",
      "shutting down: no new connections",
      "stopped",
    ];
    assertEquals(logs.map((l) => l.msg).filter((msg) => lifecycle.includes(msg)), lifecycle);
    const reloaded = logs.find((l) => l.msg === "configuration reloaded");
    assertEquals(reloaded?.file, config, "the reload read the file again");
  },
});

Deno.test({
  name:
    "an embedding program's reload serves new sessions the new certificate, and its drain frees the port while a session in a transaction finishes",
  ignore: TARGET !== "deno",
  async fn() {
    const { dir, certs } = await fixture();
    const cert = `${dir}/embedded-live.crt`;
    const key = `${dir}/embedded-live.key`;
    await Deno.copyFile(certs.proxy.cert, cert);
    await Deno.copyFile(certs.proxy.key, key);
    const file = `${dir}/embedded.yaml`;
    const port = await writeConfig(file, cert, key);
    const logs: LogLine[] = [];
    const host = { ...nodeHost([]), writeErrorLine: (line: string) => logs.push(JSON.parse(line)) };
    const load = async () => parseConfig(await host.readTextFile(file), { baseDir: dir });
    const pgtls = await serve(detectRuntime(), host, await load(), {
      configFile: file,
      reloadConfig: load,
      signals: false,
    });
    const verifiedBy = async (caFile: string) => {
      const { code, stderr } = await psql({ port, caFile }, "SELECT 1", { check: false });
      return code === 0 ? "ok" : stderr;
    };
    const busy = new Psql({ port, caFile: certs.proxyCa }, "embedded_busy");
    try {
      assertEquals(await verifiedBy(certs.proxyCa), "ok");
      assertEquals(await busy.run("BEGIN; SELECT 'in a transaction';"), "in a transaction\n");

      await Deno.copyFile(certs.db.cert, cert);
      await Deno.copyFile(certs.db.key, key);
      await pgtls.reload();
      assertEquals(logs.at(-1)?.msg, "configuration reloaded");
      assertEquals(await verifiedBy(certs.dbCa), "ok", "new sessions get the new certificate");
      assertMatch(await verifiedBy(certs.proxyCa), /certificate verify failed/);

      let stopped = false;
      void pgtls.done.then(() => stopped = true);
      pgtls.drain();
      await settle(() => logs.some((l) => l.msg.startsWith("shutting down")), (s) => s, 10_000);
      assertMatch(await verifiedBy(certs.dbCa), /Connection refused/, "the port is free");
      assertEquals(await busy.run("SELECT 'still here'; COMMIT;"), "still here\n");
      assert(!stopped, "the drain waits for the open session");
      assertEquals((await busy.finish()).code, 0);
      assertEquals(await pgtls.done, 0);
      assertEquals(logs.at(-1)?.msg, "stopped");
    } finally {
      await busy.kill();
      pgtls.close();
      await pgtls.done;
    }
  },
});
