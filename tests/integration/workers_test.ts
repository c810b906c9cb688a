/**
 * `workers: 2`: two processes accept on one port. Functional checks only:
 * which worker served each session, signals, exits, processes left behind.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import {
  type LogLine,
  type PgtlsProcess,
  runPgtls,
  spawnPgtls,
  startPgtls,
} from "../helpers/pgtls.ts";
import { connString, libpqEnv, psql } from "../helpers/clients.ts";
import { run } from "../helpers/run.ts";

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** pgtls with `workers: 2` and one proxy in front of the test cluster, once both workers listen. */
async function twoWorkers(
  tls?: { cert: string; key: string },
  extra: Record<string, unknown> = {},
) {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startPgtls(dir, {
    workers: 2,
    shutdown_timeout: "10s",
    ...extra,
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: tls?.cert ?? certs.proxy.cert, key_file: tls?.key ?? certs.proxy.key },
      },
      backend: { address: `127.0.0.1:${pg.port}` },
    }],
  });
  const started = await pgtls.waitForLog((l) => l.msg === "pgtls started");
  const pids = String(started.pids).split(",").map(Number);
  assertEquals(pids.length, 2, `two worker pids in ${JSON.stringify(started)}`);
  assert(!pids.includes(pgtls.pid), "workers are processes of their own");
  return { pgtls, pids, caFile: certs.proxyCa, pg };
}

/** Whether `pid` is a live process (a zombie is not). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Waits up to `ms` for every pid to be gone; returns those still alive. */
async function gone(pids: readonly number[], ms = 10_000): Promise<number[]> {
  const until = Date.now() + ms;
  while (pids.some(alive) && Date.now() < until) await delay(50);
  return pids.filter(alive);
}

/** The worker ids on "session closed" lines after the first `from` log lines. */
function servingWorkers(logs: readonly LogLine[], from = 0): Set<unknown> {
  return new Set(logs.slice(from).filter((l) => l.msg === "session closed").map((l) => l.worker));
}

/** pgbench opening a new connection through pgtls for each of 40 `SELECT 1`s. */
async function fortyConnections(port: number, caFile: string): Promise<void> {
  const { dir } = await fixture();
  const script = `${dir}/select1.sql`;
  await Deno.writeTextFile(script, "SELECT 1;\n");
  await run("pgbench", [
    "-n",
    "-C",
    "-c",
    "2",
    "-t",
    "20",
    "-f",
    script,
    connString({ port, caFile }),
  ], {
    env: libpqEnv(),
  });
}

async function stopAndCheck(pgtls: PgtlsProcess, pids: readonly number[]) {
  assertEquals(await pgtls.stop(), 0, "pgtls exits 0");
  assertEquals(await gone(pids), [], "no worker outlives pgtls");
}

Deno.test("workers: 2 share one port: pgbench -C sessions are served by both workers", async () => {
  const { pgtls, pids, caFile } = await twoWorkers();
  try {
    await fortyConnections(pgtls.port, caFile);
    const closedLines = () => pgtls.logs.filter((l) => l.msg === "session closed");
    // A worker logs a session once it has seen the client's close, which may
    // come after pgbench has exited; the assertion below reports it if it never does.
    await pgtls.waitForLog(() => closedLines().length >= 40).catch(() => {});
    const closed = closedLines();
    // pgbench opens one more connection of its own before the transactions.
    assert(closed.length >= 40, `a session line per connection, got ${closed.length}`);
    assertEquals([...servingWorkers(pgtls.logs)].sort(), [1, 2]);
  } finally {
    await stopAndCheck(pgtls, pids);
  }
});

Deno.test("workers: 2: SIGTERM lets an open session finish, then pgtls exits 0 with no worker left", async () => {
  const { pgtls, pids, caFile, pg } = await twoWorkers();
  const long = psql({ port: pgtls.port, caFile }, "SELECT 'drained' FROM pg_sleep(2)", {
    check: false,
  });
  try {
    // The session is established once its query runs in PostgreSQL.
    const running = () =>
      pg.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%drained%' AND pid <> pg_backend_pid()",
      );
    while ((await running()).trim() !== "1") await delay(50);
  } finally {
    pgtls.kill("SIGTERM");
  }
  const result = await long;
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout.trim(), "drained");
  assertEquals((await pgtls.status).code, 0, "pgtls exits 0");
  assertEquals(await gone(pids), [], "no worker outlives pgtls");
  const stoppedWorkers = pgtls.logs.filter((l) => l.msg === "stopped" && l.worker !== undefined);
  assertEquals(stoppedWorkers.map((l) => l.worker).sort(), [1, 2], "both workers drained");
});

Deno.test("workers: 2: SIGHUP reloads the certificate in every worker", async () => {
  const { dir, certs } = await fixture();
  const cert = `${dir}/workers-live.crt`;
  const key = `${dir}/workers-live.key`;
  await Deno.copyFile(certs.proxy.cert, cert);
  await Deno.copyFile(certs.proxy.key, key);
  const { pgtls, pids } = await twoWorkers({ cert, key });
  try {
    await Deno.copyFile(certs.db.cert, cert);
    await Deno.copyFile(certs.db.key, key);
    pgtls.kill("SIGHUP");
    const reloaded = () =>
      pgtls.logs.filter((l) => l.msg === "configuration reloaded").map((l) => l.worker).sort();
    await pgtls.waitForLog(() => reloaded().length === 2);
    assertEquals(reloaded(), [1, 2]);
    const mark = pgtls.logs.length;
    await fortyConnections(pgtls.port, certs.dbCa);
    assertEquals(
      [...servingWorkers(pgtls.logs, mark)].sort(),
      [1, 2],
      "both workers served with the new certificate",
    );
    const old = await psql({ port: pgtls.port, caFile: certs.proxyCa }, "SELECT 1", {
      check: false,
    });
    assertEquals(old.code, 2, "the old certificate is no longer presented");
  } finally {
    await stopAndCheck(pgtls, pids);
  }
});

Deno.test("workers: 2: a reload that would leave a worker no share of max_connections changes nothing", async () => {
  const { dir, certs, pg } = await fixture();
  const path = `${dir}/workers-reload.yaml`;
  const write = (maxConnections: number) =>
    Deno.writeTextFile(
      path,
      JSON.stringify({
        workers: 2,
        proxies: [{
          listener: {
            bind_address: "127.0.0.1:0",
            tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
            max_connections: maxConnections,
          },
          backend: { address: `127.0.0.1:${pg.port}` },
        }],
      }),
    );
  await write(10);
  const pgtls = await spawnPgtls(["--config", path]);
  try {
    await pgtls.waitForLog((l) => l.msg === "pgtls started");
    await write(1);
    pgtls.kill("SIGHUP");
    const failures = () => pgtls.logs.filter((l) => l.msg.startsWith("reload failed"));
    await pgtls.waitForLog(() => failures().length === 2);
    for (const failure of failures()) {
      assertMatch(
        String(failure.error),
        /proxies\[0\]\.listener\.max_connections: must be at least the number of workers/,
      );
    }
    const served = await psql({ port: pgtls.port, caFile: certs.proxyCa }, "SELECT 1");
    assertEquals(served.stdout.trim(), "1");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("workers: 2: a worker that dies is logged, the other stops, pgtls exits 1", async () => {
  const { pgtls, pids } = await twoWorkers();
  Deno.kill(pids[1]!, "SIGKILL");
  const died = await pgtls.waitForLog((l) => l.msg.startsWith("worker died"));
  assertEquals(died.level, "error");
  assertEquals(died.pid, pids[1]);
  assertEquals(died.signal, "SIGKILL");
  assertEquals((await pgtls.status).code, 1);
  assertEquals(await gone(pids), []);
});

Deno.test("workers: 2: no worker outlives pgtls killed with SIGKILL", async () => {
  const { pgtls, pids } = await twoWorkers();
  pgtls.kill("SIGKILL");
  await pgtls.status;
  assertEquals(await gone(pids), [], "no orphaned worker");
});

Deno.test("workers: max_connections is a total shared out among the workers", async () => {
  const { pgtls, pids, caFile } = await twoWorkers(undefined, {});
  try {
    // Which worker a connection reaches is the kernel's choice, so the share is read from the log.
    const shares = pgtls.logs.filter((l) => l.msg === "listening").map((l) => l.max_connections);
    assertEquals(shares, [5000, 5000]);
    assertEquals((await psql({ port: pgtls.port, caFile }, "SELECT 1")).stdout.trim(), "1");
  } finally {
    await stopAndCheck(pgtls, pids);
  }
});

Deno.test("pgtls check: workers must be auto or a count, and fit max_connections", async () => {
  const { dir, certs } = await fixture();
  const checkWith = async (top: string, listener = "") => {
    const path = await Deno.makeTempFile({ dir, suffix: ".yaml" });
    await Deno.writeTextFile(
      path,
      `${top}\nproxies:\n  - listener:\n      tls: { cert_file: ${certs.proxy.cert}, key_file: ${certs.proxy.key} }\n${listener}    backend: { address: 127.0.0.1:5432 }\n`,
    );
    return { path, ...(await runPgtls(["check", "--config", path])) };
  };
  for (const bad of ["0", "lots", "-1", "1.5", "1025"]) {
    const result = await checkWith(`workers: ${bad}`);
    assertEquals(result.code, 2, `workers: ${bad}`);
    assertMatch(result.stderr, /workers: must be auto or a whole number from 1 to 1024/);
    assert(result.stderr.includes(result.path), "the error names the file");
  }
  const tooFew = await checkWith("workers: 3", "      max_connections: 2\n");
  assertEquals(tooFew.code, 2);
  assertMatch(
    tooFew.stderr,
    /proxies\[0\]\.listener\.max_connections: must be at least the number of workers \(3\)/,
  );
  const ok = await checkWith("workers: auto");
  assertEquals(ok.code, 0, ok.stderr);
  const two = await checkWith("workers: 2");
  assertMatch(two.stdout, /configuration ok: 1 proxy\(ies\), 2 workers/);
  const flag = await runPgtls(["check", "--config", two.path, "--workers", "lots"]);
  assertEquals(flag.code, 2);
  assertMatch(flag.stderr, /--workers: must be auto or a whole number/);
  const one = await runPgtls(["check", "--config", two.path, "--workers", "1"]);
  assertEquals(one.stdout, "configuration ok: 1 proxy(ies)\n", "--workers overrides the file");
});
