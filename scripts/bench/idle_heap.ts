/**
 * Where an idle pgtls session's memory goes, under Deno: pgtls runs in this
 * process (so its V8 heap can be read), a child process opens N real
 * sessions through it to a throwaway PostgreSQL 15 (TLS, SCRAM, one
 * `SELECT 1`, then idle) and holds them. Prints, per session, the growth of
 * resident memory, of the V8 heap in use and reserved, and of external
 * memory, each after a full collection; with `--snapshots DIR` also writes
 * heap snapshots before and after, to diff by constructor.
 *
 * Run it with the V8 flags under test, e.g.
 *   deno run -A --v8-flags=--expose-gc,--max-semi-space-size=4 scripts/bench/idle_heap.ts
 *
 * Usage: idle_heap.ts [--sessions N] [--snapshots DIR]
 *
 * @module
 */

import { parseArgs } from "node:util";
import v8 from "node:v8";
import { makeTestCertificates } from "../../tests/helpers/certs.ts";
import {
  PG_BIN,
  type PgCluster,
  startCluster,
  TEST_DATABASE,
  TEST_PASSWORD,
  TEST_USER,
} from "../../tests/helpers/pg.ts";
import { freePort } from "../../tests/helpers/run.ts";
import { proxyConfig } from "../../tests/helpers/pgtls.ts";
import { detectRuntime } from "../../src/runtime/detect.ts";
import { nodeHost } from "../../src/runtime/host/host.ts";
import { main } from "../../src/cli/main.ts";
import { openIdleSessions } from "./idle_sessions.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    sessions: { type: "string", default: "1000" },
    snapshots: { type: "string" },
    // Internal: the child that opens and holds the sessions.
    hold: { type: "string" },
    ca: { type: "string" },
  },
});
const sessions = Number(flags.sessions);

if (flags.hold) {
  const held = await openIdleSessions(sessions, {
    hostname: "127.0.0.1",
    port: Number(flags.hold),
    caCert: await Deno.readTextFile(flags.ca!),
    serverName: "localhost",
    user: TEST_USER,
    password: TEST_PASSWORD,
    database: TEST_DATABASE,
  });
  console.log("held");
  // Until the parent closes stdin.
  await Deno.stdin.read(new Uint8Array(1));
  await held.close();
  Deno.exit(0);
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error("idle_heap.ts: run with --v8-flags=--expose-gc");
  Deno.exit(2);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens `count` sessions in a child process; resolves to a function that closes them. */
async function hold(port: number, count: number, ca: string): Promise<() => Promise<void>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--hold",
      String(port),
      "--sessions",
      String(count),
      "--ca",
      ca,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const line = await child.stdout.getReader().read();
  if (!new TextDecoder().decode(line.value).includes("held")) {
    throw new Error(`the session holder failed (${(await child.status).code})`);
  }
  return async () => {
    await child.stdin.close();
    await child.status;
  };
}

/** Waits until pgtls accepts on `port`; throws if it stopped instead. */
async function listening(port: number, served: Promise<number>): Promise<void> {
  let stopped: number | undefined;
  served.then((code) => stopped = code);
  for (let tries = 0; tries < 100; tries++) {
    if (stopped !== undefined) throw new Error(`pgtls exited with ${stopped} before listening`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error("pgtls did not listen within 10 s");
}

/** Memory after a full collection; the snapshot, if any, is written after reading it. */
function measure(snapshot?: string): Deno.MemoryUsage {
  gc!();
  const usage = Deno.memoryUsage();
  if (snapshot) v8.writeHeapSnapshot(snapshot);
  return usage;
}

/** Room for the sessions: PostgreSQL reads max_connections only at start. */
async function allowConnections(pg: PgCluster, count: number): Promise<void> {
  await pg.sql(`ALTER SYSTEM SET max_connections = ${count + 50}`);
  const { dataDir } = pg;
  const pgCtl = [`${PG_BIN}/pg_ctl`, "-D", dataDir, "-l", `${dataDir}/server.log`, "-w"];
  const command = Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--", ...pgCtl] : pgCtl;
  const restart = await new Deno.Command(command[0]!, {
    args: [...command.slice(1), "-m", "fast", "restart"],
    stdout: "null",
  }).output();
  if (!restart.success) throw new Error("pg_ctl restart failed");
}

if (flags.snapshots) await Deno.mkdir(flags.snapshots, { recursive: true });
const dir = await Deno.makeTempDir({ prefix: "pgtls-idle-heap-" });
await Deno.chmod(dir, 0o755);
const certs = await makeTestCertificates(dir);
const pg = await startCluster(`${dir}/pg`, certs.db);
try {
  await allowConnections(pg, sessions);
  const port = freePort();
  const config = `${dir}/pgtls.yaml`;
  // JSON is YAML.
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      log: { level: "warn" },
      proxies: [{ name: "probe", ...proxyConfig(certs, pg.port) }],
    }),
  );
  // Serves until this script exits; returns only if serving failed.
  const served = main(
    detectRuntime(),
    nodeHost(["serve", "--config", config, "--listen", `127.0.0.1:${port}`]),
  );
  await listening(port, served);
  // Lazy initialisation and JIT belong to the process, not to a session.
  await (await hold(port, 20, certs.proxyCa))();
  await sleep(1_000);
  const before = measure(flags.snapshots && `${flags.snapshots}/before.heapsnapshot`);
  const release = await hold(port, sessions, certs.proxyCa);
  await sleep(2_000);
  const after = measure(flags.snapshots && `${flags.snapshots}/after.heapsnapshot`);
  const perSession = (key: keyof Deno.MemoryUsage) =>
    ((after[key] - before[key]) / 1024 / sessions).toFixed(1);
  // Writing the first snapshot costs resident memory of its own, counted in `after`.
  const resident = flags.snapshots ? "not measured (snapshots)" : perSession("rss");
  console.log(
    `${sessions} idle sessions, KiB each: resident ${resident}, ` +
      `heap used ${perSession("heapUsed")}, heap reserved ${perSession("heapTotal")}, ` +
      `external ${perSession("external")}`,
  );
  await release();
} finally {
  pg.stopSync();
  await Deno.remove(dir, { recursive: true });
}
Deno.exit(0);
