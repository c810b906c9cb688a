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
  TARGET,
} from "../helpers/pgtls.ts";
import { V8_FLAGS } from "../../src/runtime/v8/flags.ts";
import { connString, libpqEnv, psql } from "../helpers/clients.ts";
import { TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";
import { run } from "../helpers/run.ts";
import { connectTls, errorFields, readMessage, writeAll } from "../helpers/wire.ts";
import { startupMessage } from "../helpers/packets.ts";
import { settle } from "../helpers/settle.ts";

/** pgtls with `workers: 2` and one proxy in front of the test cluster, once both workers listen. */
async function twoWorkers(
  tls?: { cert: string; key: string },
  listener: Record<string, unknown> = {},
) {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startPgtls(dir, {
    workers: 2,
    shutdown_timeout: "10s",
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: tls?.cert ?? certs.proxy.cert, key_file: tls?.key ?? certs.proxy.key },
        ...listener,
      },
      backend: { address: `127.0.0.1:${pg.port}` },
    }],
  });
  let pids: number[] = [];
  try {
    const started = await pgtls.waitForLog((l) => l.msg === "pgtls started");
    pids = String(started.pids).split(",").map(Number);
    assertEquals(pids.length, 2, `two worker pids in ${JSON.stringify(started)}`);
    assert(!pids.includes(pgtls.pid), "workers are processes of their own");
  } catch (error) {
    await killAll(pgtls, pids);
    throw error;
  }
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
function gone(pids: readonly number[], ms = 10_000): Promise<number[]> {
  return settle(() => pids.filter(alive), (left) => left.length === 0, ms);
}

/** Leaves nothing of a test running: SIGKILLs each worker still alive, then stops pgtls. */
async function killAll(pgtls: PgtlsProcess, pids: readonly number[]): Promise<void> {
  for (const pid of pids.filter(alive)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* it exited meanwhile */ }
  }
  await pgtls.stop();
}

/**
 * The "session closed" lines after the first `from` log lines, once there are
 * `count` (or fewer, if they never come: the caller asserts). A worker logs a
 * session once it has seen the client's close, which may come after the
 * client has exited.
 */
async function closedSessions(pgtls: PgtlsProcess, count: number, from = 0): Promise<LogLine[]> {
  const closed = () => pgtls.logs.slice(from).filter((l) => l.msg === "session closed");
  await pgtls.waitForLog(() => closed().length >= count).catch(() => {});
  return closed();
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
  try {
    assertEquals(await pgtls.stop(), 0, "pgtls exits 0");
    assertEquals(await gone(pids), [], "no worker outlives pgtls");
  } finally {
    await killAll(pgtls, pids);
  }
}

Deno.test("workers: 2 share one port: pgbench -C sessions are served by both workers", async () => {
  const { pgtls, pids, caFile } = await twoWorkers();
  try {
    await fortyConnections(pgtls.port, caFile);
    const closed = await closedSessions(pgtls, 40);
    // pgbench opens one more connection of its own before the transactions.
    assert(closed.length >= 40, `a session line per connection, got ${closed.length}`);
    assertEquals([...servingWorkers(pgtls.logs)].sort(), [1, 2]);
  } finally {
    await stopAndCheck(pgtls, pids);
  }
});

Deno.test({
  name:
    "workers: 2 run with pgtls's V8 options, as the supervisor does (Deno passes none on by itself)",
  // Bun runs JavaScriptCore: it has no V8 options to pass on.
  ignore: TARGET === "bun" || TARGET === "binary",
  async fn() {
    const { pgtls, pids } = await twoWorkers();
    try {
      for (const pid of pids) {
        const args = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
        for (const flag of V8_FLAGS) {
          assert(
            args.some((arg) => arg.includes(flag)),
            `worker ${pid} runs with ${flag}: ${args.join(" ")}`,
          );
        }
      }
    } finally {
      await stopAndCheck(pgtls, pids);
    }
  },
});

Deno.test("workers: 2: SIGTERM lets an open session finish, then pgtls exits 0 with no worker left", async () => {
  const { pgtls, pids, caFile, pg } = await twoWorkers();
  let psqlExited = false;
  const long = psql({ port: pgtls.port, caFile }, "SELECT 'drained' FROM pg_sleep(2)", {
    check: false,
  }).finally(() => psqlExited = true);
  try {
    try {
      // The session is established once its query runs in PostgreSQL; a psql
      // that never gets there fails the assertions on its result below.
      const running = () =>
        pg.sql(
          "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%drained%' AND pid <> pg_backend_pid()",
        );
      await settle(running, (count) => psqlExited || count.trim() === "1", 15_000);
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
  } finally {
    await killAll(pgtls, pids);
    await long;
  }
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
    const closed = await closedSessions(pgtls, 40, mark);
    assert(closed.length >= 40, `a session line per connection, got ${closed.length}`);
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
  try {
    Deno.kill(pids[1]!, "SIGKILL");
    const died = await pgtls.waitForLog((l) => l.msg.startsWith("worker died"));
    assertEquals(died.level, "error");
    assertEquals(died.pid, pids[1]);
    assertEquals(died.signal, "SIGKILL");
    assertEquals((await pgtls.status).code, 1);
    assertEquals(await gone(pids), []);
  } finally {
    await killAll(pgtls, pids);
  }
});

Deno.test("workers: 2: no worker outlives pgtls killed with SIGKILL", async () => {
  const { pgtls, pids } = await twoWorkers();
  try {
    pgtls.kill("SIGKILL");
    await pgtls.status;
    assertEquals(await gone(pids), [], "no orphaned worker");
  } finally {
    await killAll(pgtls, pids);
  }
});

Deno.test("workers: 2: max_connections is a total shared out among the workers: with 2, at most 2 sessions are served at once, the rest get 53300", async () => {
  const { pgtls, pids, caFile } = await twoWorkers(undefined, { max_connections: 2 });
  const held: Deno.TlsConn[] = [];
  try {
    const shares = pgtls.logs.filter((l) => l.msg === "listening").map((l) => l.max_connections);
    assertEquals(shares, [1, 1], "each worker's share");
    // Which worker a connection reaches is the kernel's choice; however they
    // fall, each worker serves one at a time. Had each worker all of
    // max_connections, ten connections would almost surely get more than 2.
    const refused: string[] = [];
    for (let i = 0; i < 10; i++) {
      const conn = await connectTls(pgtls.port, caFile);
      // A hang guard: a session left unanswered fails the read instead of holding the test.
      const unanswered = setTimeout(() => conn.close(), 15_000);
      const first = await writeAll(
        conn,
        startupMessage({ user: TEST_USER, database: TEST_DATABASE }),
      )
        .then(() => readMessage(conn))
        .finally(() => clearTimeout(unanswered));
      // Served: the backend asks for authentication, and the session stays open.
      if (first?.type === "R") {
        held.push(conn);
        continue;
      }
      conn.close();
      refused.push(first?.type === "E" ? String(errorFields(first.body).C) : String(first?.type));
    }
    assert(held.length >= 1 && held.length <= 2, `${held.length} of 10 sessions served at once`);
    assertEquals(refused, Array(10 - held.length).fill("53300"), "the others are refused");
  } finally {
    for (const conn of held) conn.close();
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
  assertMatch(two.stdout, /configuration ok: 1 proxy, 2 workers/);
  const flag = await runPgtls(["check", "--config", two.path, "--workers", "lots"]);
  assertEquals(flag.code, 2);
  assertMatch(flag.stderr, /--workers: must be auto or a whole number/);
  const one = await runPgtls(["check", "--config", two.path, "--workers", "1"]);
  // The lines after it warn of the test certificate's chain (its CA is not in the file).
  assertEquals(
    one.stdout.split("\n")[0],
    "configuration ok: 1 proxy",
    "--workers overrides the file",
  );
});
