/**
 * One pgtls per listen address: a second pgtls on a port another one holds
 * refuses to start, whatever either's `workers` (SO_REUSEPORT would let them
 * split the clients silently), while the README's rolling restart (SIGTERM
 * the old one, start the new one at once) still serves throughout.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type PgtlsProcess, proxyConfig, runPgtls, startPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { freePort } from "../helpers/run.ts";
import { openIdleSession } from "../helpers/wire.ts";
import { settle } from "../helpers/settle.ts";
import { stringify } from "yaml";

/** A config of `workers` processes listening on 127.0.0.1:`port`. */
async function configOn(port: number, workers: number, name: string): Promise<string> {
  const { dir, certs, pg } = await fixture();
  const proxy = proxyConfig(certs, pg.port, false);
  (proxy.listener as Record<string, unknown>).bind_address = `127.0.0.1:${port}`;
  const path = `${dir}/${name}.yaml`;
  await Deno.writeTextFile(
    path,
    stringify({ workers, shutdown_timeout: "60s", proxies: [{ name, ...proxy }] }),
  );
  return path;
}

/**
 * pgtls on `host`:`port` with `workers` (and its metrics endpoint on
 * 127.0.0.1:`metricsPort`, when given), once every worker listens.
 */
async function holder(
  port: number,
  workers: number,
  options: { host?: string; metricsPort?: number } = {},
): Promise<PgtlsProcess> {
  const { dir, certs, pg } = await fixture();
  const proxy = proxyConfig(certs, pg.port, false);
  (proxy.listener as Record<string, unknown>).bind_address = `${
    options.host ?? "127.0.0.1"
  }:${port}`;
  const metrics = options.metricsPort ? { listen: `127.0.0.1:${options.metricsPort}` } : undefined;
  const pgtls = await startPgtls(dir, {
    workers,
    shutdown_timeout: "60s",
    ...(metrics ? { metrics } : {}),
    proxies: [proxy],
  });
  if (workers > 1) await pgtls.waitForLog((l) => l.msg === "pgtls started");
  return pgtls;
}

async function selectOne(port: number): Promise<string> {
  const { certs } = await fixture();
  return (await psql({ port, caFile: certs.proxyCa }, "SELECT 1")).stdout.trim();
}

for (const [first, second] of [[2, 2], [2, 1], [1, 2]] as const) {
  Deno.test(`a pgtls with ${second} worker(s) refuses a port that a pgtls with ${first} worker(s) holds, naming the address and the holder; the first keeps serving`, async () => {
    const port = freePort();
    const running = await holder(port, first);
    try {
      const config = await configOn(port, second, "intruder");
      const refused = await runPgtls(["serve", "--config", config, "--log-format", "json"]);
      assertEquals(refused.code, 1, refused.stderr);
      assertMatch(
        refused.stderr,
        new RegExp(
          `proxy intruder: listener\\.bind_address 127\\.0\\.0\\.1:${port}: address already in use`,
        ),
      );
      // The holder is named by pid: the process that listens (a worker, or the one process).
      const named = /held by pid (\d+): ([^;"]*)/.exec(refused.stderr);
      assert(named !== null, `no holder named in ${refused.stderr}`);
      assert(named[2]!.includes("serve"), `the holder's command line: ${named[2]}`);
      assertEquals(await selectOne(port), "1");
    } finally {
      assertEquals(await running.stop(), 0);
    }
  });
}

Deno.test("two pgtls with workers share a port on two addresses, which SO_REUSEPORT does not split", async () => {
  const port = freePort();
  const first = await holder(port, 2, { host: "127.0.0.1" });
  try {
    const second = await holder(port, 2, { host: "127.0.0.2" });
    try {
      assertEquals(await selectOne(port), "1");
      assert(
        !second.logs.some((l) => l.msg === "could not start"),
        JSON.stringify(second.logs.filter((l) => l.level === "error")),
      );
    } finally {
      assertEquals(await second.stop(), 0);
    }
  } finally {
    assertEquals(await first.stop(), 0);
  }
});

for (const workers of [1, 2]) {
  Deno.test(`a rolling restart with ${workers} worker(s): SIGTERM frees the ports (metrics too) at once, and a new pgtls serves on them while the old one drains`, async () => {
    const port = freePort();
    const metricsPort = freePort();
    const { certs } = await fixture();
    const old = await holder(port, workers, { metricsPort });
    let oldExited = false;
    old.status.then(() => oldExited = true);
    let fresh: PgtlsProcess | undefined;
    const idle = await openIdleSession(port, certs.proxyCa);
    try {
      old.kill("SIGTERM");
      // Each process that listened logs this once its ports are free.
      const freed = (l: { msg: string }) => l.msg === "shutting down: no new connections";
      await settle(() => old.logs.filter(freed).length, (n) => n === workers, 15_000);
      fresh = await holder(port, workers, { metricsPort });
      assertEquals(await selectOne(port), "1");
      const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      assertEquals([health.status, await health.text()], [200, "ok\n"], "the new one's endpoint");
      // The old one is still draining: its session is open and shutdown_timeout is a minute.
      assertEquals(oldExited, false, "the old pgtls is still draining");
    } finally {
      idle.close();
      assertEquals((await old.status).code, 0);
      if (fresh) assertEquals(await fresh.stop(), 0);
    }
  });
}
