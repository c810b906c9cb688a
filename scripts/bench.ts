/**
 * Benchmark: pgtls (under Deno, Node.js, Bun and as the compiled executable)
 * against a direct TLS connection to PostgreSQL and against PgBouncer, with
 * TLS on both legs everywhere.
 *
 * Sets up everything on this machine and removes it afterwards (also on
 * failure and Ctrl-C): certificates (openssl), a throwaway PostgreSQL 15
 * cluster (ssl=on, scram-sha-256), PgBouncer from Debian's package (installed
 * with apt-get when missing, started directly with its own config file as the
 * postgres user, never via systemd). Candidates are interleaved (A B C … A B C
 * …) for several rounds and the medians are reported, in a table on stdout
 * and, with every raw sample, in a JSON file.
 *
 * This is a measuring script, not a test: it asserts nothing about timing.
 *
 * Every client connects to 127.0.0.1 with `sslmode=require channel_binding=disable` and
 * authenticates with SCRAM-SHA-256. pgtls verifies PostgreSQL (tls_verify full, the test CA,
 * server_name); PgBouncer uses server_tls_sslmode=require. Each round: idle sessions, then
 * pgbench -S, pgbench -S -C, TLS handshakes only, COPY out, COPY in, each for every candidate
 * in turn. Metrics:
 *
 * - pgbench -S: `pgbench -n -S -c 8 -j 2 -T N`, its "tps" (without initial connection time)
 *   and "latency average"; proxy CPU µs per transaction = proxy utime+stime over the run
 *   (/proc/PID/stat, all threads) / transactions processed.
 * - pgbench -S -C: the same with a new connection (TCP + TLS + SCRAM, and behind a pgtls a new
 *   backend connection and TLS session) per transaction: "tps" (including reconnection
 *   times), "average connection time", proxy CPU ms per connection = CPU / transactions.
 *   PgBouncer keeps server connections pooled in session mode, so only its client leg is new.
 * - TLS handshakes only: scripts/bench/handshake_storm.mjs under Bun, 16 loops of SSLRequest,
 *   'S', a verified TLS handshake and a close, for N seconds: handshakes per second and proxy
 *   CPU ms per handshake. No StartupMessage follows, so a proxy opens no backend: the proxy is
 *   the busy party, which is what shows whether `workers: 2` spreads over two cores
 *   (PostgreSQL itself, as "direct", forks a backend per connection).
 * - COPY TO STDOUT: `psql -c "COPY bench_blob TO STDOUT"` to /dev/null; MB/s = exact bytes of
 *   COPY text output (1 MB = 10^6 B) / wall time of the psql process (connection included);
 *   proxy CPU seconds per GB (10^9 B) of that payload.
 * - COPY FROM STDIN: `psql -c "COPY bench_upload FROM STDIN" < file` into an unlogged table,
 *   truncated before each run; MB/s and CPU s/GB the same way.
 * - idle sessions: a fresh proxy process; 20 sessions opened and closed (warm-up); 1 s later
 *   VmRSS is read; N sessions opened by scripts/bench/idle_sessions.ts (TLS, StartupMessage,
 *   SCRAM authentication, one `SELECT 1`, then idle: each has a PostgreSQL backend behind it);
 *   2 s later VmRSS is read again; KiB/session = (after − before) / N.
 *
 * Candidates `pgtls-deno-w2`, `pgtls-bun-w2`, `pgtls-node-w2`, `pgtls-binary-w2` run the same
 * pgtls with `workers: 2`, only when named in --candidates; their CPU and memory are those of
 * the supervisor and both workers together. When a -w2 candidate runs with its one-worker
 * candidate, a second table gives workers: 2 against 1 for every rate.
 *
 * Candidates `pgtls-deno-auth` (and -node, -bun, -binary) run pgtls with `auth` holding the
 * test user's SCRAM secret, `pgtls-deno-authpw` (…) with its plaintext password, only when
 * named; libpq then keeps its default channel_binding=prefer, so both legs use
 * SCRAM-SHA-256-PLUS, and pgtls does the client's SCRAM exchange and the backend's itself.
 *
 * Usage: deno task bench [--quick] [--json FILE] [--rounds N] [--candidates a,b,...]
 *        [--workloads idle,select,connect,handshake,copy_out,copy_in] [--listener-key p256|rsa2048]
 *        [--baseline DIR]
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type LeafKey,
  makeTestCertificates,
  type TestCertificates,
} from "../tests/helpers/certs.ts";
import {
  PG_BIN,
  type PgCluster,
  startCluster,
  TEST_DATABASE,
  TEST_PASSWORD,
  TEST_USER,
} from "../tests/helpers/pg.ts";
import { freePort, run } from "../tests/helpers/run.ts";
import { residentBytes } from "../tests/helpers/rss.ts";
import { openIdleSessions } from "./bench/idle_sessions.ts";
import { denoV8Flag, V8_FLAGS } from "../src/runtime/v8/flags.ts";

const root = new URL("../", import.meta.url).pathname;
const bin = `${root}node_modules/.bin`;

// ---------------------------------------------------------------- settings

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    rounds: { type: "string" },
    candidates: { type: "string" },
    baseline: { type: "string" },
    workloads: { type: "string" },
    "listener-key": { type: "string", default: "p256" },
    help: { type: "boolean", short: "h" },
  },
});
if (flags.help) {
  console.log(
    "Usage: deno task bench [--quick] [--json FILE] [--rounds N] [--candidates direct,deno,...]\n" +
      "       [--workloads idle,select,connect,handshake,copy_out,copy_in]\n" +
      "       [--listener-key p256|rsa2048]\n" +
      "Candidates: direct, pgtls-deno, pgtls-node, pgtls-bun, pgtls-binary, pgbouncer;\n" +
      "pgtls-deno-w2, pgtls-node-w2, pgtls-bun-w2, pgtls-binary-w2 (workers: 2),\n" +
      "pgtls-deno-auth, ... (auth with the SCRAM secret), pgtls-deno-authpw, ... (auth with\n" +
      "the plaintext password) and\n" +
      "naive-deno, naive-node, naive-bun (scripts/bench/naive_proxy.mjs) only when named.\n" +
      "--baseline DIR adds baseline-deno, baseline-node and baseline-bun: pgtls from another\n" +
      "checkout (e.g. a git worktree of an older commit), for before/after ratios measured in\n" +
      "the same run.\n" +
      "--listener-key: the key of the certificate pgtls and PgBouncer present to clients.",
  );
  Deno.exit(0);
}
if (flags["listener-key"] !== "p256" && flags["listener-key"] !== "rsa2048") {
  console.error(`bench: --listener-key must be p256 or rsa2048, not ${flags["listener-key"]}`);
  Deno.exit(2);
}
const listenerKey: LeafKey = flags["listener-key"];

interface Settings {
  readonly rounds: number;
  /** pgbench -T for the -S workload, seconds. */
  readonly selectSeconds: number;
  /** pgbench -T for the -S -C workload, seconds. */
  readonly connectSeconds: number;
  /** Length of the handshake storm, seconds. */
  readonly handshakeSeconds: number;
  /** pgbench -S run after each (re)start, not recorded, seconds. */
  readonly warmupSeconds: number;
  readonly scale: number;
  readonly copyOutBytes: number;
  readonly copyInBytes: number;
  readonly idleSessions: number;
}

const settings: Settings = flags.quick
  ? {
    rounds: 1,
    selectSeconds: 2,
    connectSeconds: 2,
    handshakeSeconds: 2,
    warmupSeconds: 1,
    scale: 1,
    copyOutBytes: 50e6,
    copyInBytes: 50e6,
    idleSessions: 200,
  }
  : {
    rounds: 3,
    selectSeconds: 8,
    connectSeconds: 6,
    handshakeSeconds: 6,
    warmupSeconds: 2,
    scale: 10,
    copyOutBytes: 300e6,
    copyInBytes: 200e6,
    idleSessions: 1000,
  };
const rounds = flags.rounds ? Number(flags.rounds) : settings.rounds;
const jsonPath = flags.json ?? `${root}bench-results.json`;
const CLIENTS = 8;
const THREADS = 2;
/** Concurrent handshake loops in the handshake storm. */
const HANDSHAKE_LOOPS = 16;
/** Bytes of one COPY text line of bench_blob, about: 31 md5s plus the id. */
const BLOB_PAYLOAD_CHARS = 31 * 32;

// ---------------------------------------------------------------- cleanup

/** Everything to undo at exit, newest last. Each entry must be safe to call twice. */
const undo: (() => void)[] = [];
let cleanedUp = false;

function cleanupSync(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const step of undo.reverse()) {
    try {
      step();
    } catch (error) {
      console.error(`bench: cleanup step failed: ${error}`);
    }
  }
}

function onSignal(signal: Deno.Signal): void {
  console.error(`\nbench: ${signal}, cleaning up`);
  try {
    writeResults(true);
  } catch {
    // Best effort.
  }
  cleanupSync();
  Deno.exit(130);
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => onSignal(signal));
}
globalThis.addEventListener("unload", cleanupSync);

/** Child processes running right now (pgbench, psql, proxies), killed at cleanup. */
const children = new Set<Deno.ChildProcess>();
/** Processes that are not our children (PgBouncer under runuser), killed at cleanup. */
const otherPids = new Set<number>();
undo.push(() => {
  for (const pid of otherPids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
});

// ---------------------------------------------------------------- small helpers

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const decoder = new TextDecoder();
const CLK_TCK = Number((await run("getconf", ["CLK_TCK"])).stdout.trim()) || 100;

/** CPU seconds (user + system, all threads) the processes have used so far. */
function cpuSecondsOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "pid (comm) ": field 3 (state) is fields[0]; utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Exec {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Runs a command, tracked for cleanup, killed after `timeoutMs`; stdout may go to /dev/null. */
async function exec(
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; stdout?: "piped" | "null"; timeoutMs?: number } = {},
): Promise<Exec> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args: [...args],
    env: options.env,
    stdin: "null",
    stdout: options.stdout ?? "piped",
    stderr: "piped",
  }).spawn();
  children.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000);
  try {
    const output = await child.output();
    return {
      code: output.code,
      stdout: options.stdout === "null" ? "" : decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    clearTimeout(timer);
    children.delete(child);
  }
}

function checked(what: string, result: Exec): Exec {
  if (result.code !== 0) {
    throw new Error(`${what} exited ${result.code}: ${(result.stderr || result.stdout).trim()}`);
  }
  return result;
}

async function firstLine(command: string, args: string[]): Promise<string> {
  try {
    const result = await run(command, args, { check: false });
    return (result.stdout || result.stderr).trim().split("\n")[0] ?? "?";
  } catch (error) {
    return `unavailable (${error instanceof Error ? error.message : error})`;
  }
}

const libpqEnv = {
  PGPASSWORD: TEST_PASSWORD,
  PGCONNECT_TIMEOUT: "10",
  PSQLRC: "/dev/null",
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  // No ~/.postgresql/root.crt must turn sslmode=require into verify-ca.
  PGSSLROOTCERT: "/nonexistent/pgtls-bench-root.crt",
};

/**
 * libpq keywords for a candidate on `port`: TLS required, SCRAM; no channel
 * binding unless the candidate authenticates itself (`auth`), where libpq's
 * default (prefer) picks SCRAM-SHA-256-PLUS as it would in production.
 */
function connString(port: number, channelBinding: "disable" | "prefer" = "disable"): string {
  return `host=127.0.0.1 port=${port} sslmode=require channel_binding=${channelBinding} ` +
    `user=${TEST_USER} dbname=${TEST_DATABASE} connect_timeout=10`;
}

function log(text: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
}

// ---------------------------------------------------------------- candidates

type Kind = "direct" | "pgtls" | "pgbouncer";

interface Candidate {
  readonly name: string;
  readonly kind: Kind;
  /** Command line of a pgtls candidate (before `serve ...`). */
  readonly command?: readonly [string, readonly string[]];
  /** pgtls `workers`; 1 when absent. */
  readonly workers?: number;
  /** Run only when named in --candidates (the -w2 and -auth variants). */
  readonly optIn?: boolean;
  /**
   * pgtls authenticates clients itself (`auth`), holding the test user's
   * SCRAM secret (`secret`) or its plaintext password (`plaintext`).
   */
  readonly auth?: "secret" | "plaintext";
  /**
   * Opens its backend as soon as the client's SSLRequest is answered (the
   * naive proxy): the handshake storm would make PostgreSQL fork for every
   * handshake, so that workload skips it.
   */
  readonly dialsEarly?: boolean;
}

/** A started candidate: where clients connect, and the process to measure (not for direct). */
interface Running {
  readonly port: number;
  readonly pid?: number;
  /** Every process whose CPU and memory count: the proxy and, with workers, each worker. */
  readonly pids?: readonly number[];
  /** The CA and name that verify this candidate's certificate; the proxy's when absent. */
  readonly trust?: { readonly caFile: string; readonly serverName: string };
  /** libpq's channel_binding towards it (see {@link connString}). */
  readonly channelBinding?: "disable" | "prefer";
  stop(): Promise<void>;
}

interface Environment {
  readonly dir: string;
  readonly certs: TestCertificates;
  readonly pg: PgCluster;
  readonly caPem: string;
  /** Runs SQL as the superuser in the test database (Unix socket); returns unaligned output. */
  sql(query: string): Promise<string>;
}

/** Runs `command args` with stdout and stderr appended to `logFile`, keeping the pid (exec). */
function spawnLogged(command: string, args: readonly string[], logFile: string): Deno.ChildProcess {
  const child = new Deno.Command("sh", {
    args: ["-c", 'log=$1; shift; exec "$@" >>"$log" 2>&1', "sh", logFile, command, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  children.add(child);
  child.status.then(() => children.delete(child));
  return child;
}

async function tail(path: string, lines = 20): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function stopChild(child: Deno.ChildProcess, signal: Deno.Signal, pid = child.pid) {
  let exited = false;
  const status = child.status.then(() => exited = true);
  try {
    Deno.kill(pid, signal);
  } catch {
    // Already gone.
  }
  await Promise.race([status, sleep(5_000)]);
  if (!exited) {
    try {
      Deno.kill(pid, "SIGKILL");
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await status;
  }
}

let startCount = 0;

async function startPgtls(env: Environment, candidate: Candidate): Promise<Running> {
  const n = ++startCount;
  const config = `${env.dir}/${candidate.name}.yaml`;
  const logFile = `${env.dir}/${candidate.name}-${n}.log`;
  let auth: { users_file: string } | undefined;
  if (candidate.auth) {
    const usersFile = `${env.dir}/${candidate.name}-users.txt`;
    const secret = candidate.auth === "secret"
      ? await env.sql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${TEST_USER}'`)
      : TEST_PASSWORD;
    await Deno.writeTextFile(usersFile, `"${TEST_USER}" "${secret}"\n`);
    auth = { users_file: usersFile };
  }
  // JSON is YAML.
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      log: { level: "info", format: "json" },
      shutdown_timeout: "1s",
      // Only when asked: a --baseline checkout may predate the key.
      ...(candidate.workers ? { workers: candidate.workers } : {}),
      proxies: [{
        name: "bench",
        listener: {
          bind_address: "127.0.0.1:0",
          tls: { cert_file: env.certs.proxy.cert, key_file: env.certs.proxy.key },
          max_connections: 10000,
        },
        backend: {
          address: `127.0.0.1:${env.pg.port}`,
          tls_enabled: true,
          tls_verify: "full",
          ca_file: env.certs.dbCa,
          server_name: "db.pgtls.test",
        },
        ...(auth ? { auth } : {}),
      }],
    }),
  );
  const [command, base] = candidate.command!;
  const child = spawnLogged(
    command,
    [...base, "serve", "--config", config, "--log-format", "json"],
    logFile,
  );
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await Deno.readTextFile(logFile).catch(() => "");
    const lines = text.split("\n");
    const line = lines.find((l) => l.includes('"msg":"listening"'));
    // "pgtls started" comes once every worker listens, and names the workers.
    const started = lines.find((l) => l.includes('"msg":"pgtls started"'));
    if (line && started) {
      const address = String(JSON.parse(line).address);
      const port = Number(address.slice(address.lastIndexOf(":") + 1));
      const workers = JSON.parse(started).pids;
      const pids = [child.pid, ...(workers ? String(workers).split(",").map(Number) : [])];
      return {
        port,
        pid: child.pid,
        pids,
        channelBinding: candidate.auth ? "prefer" : "disable",
        stop: () => stopChild(child, "SIGTERM"),
      };
    }
    if (exited || Date.now() > deadline) {
      await stopChild(child, "SIGKILL");
      throw new Error(`${candidate.name} did not start listening:\n${await tail(logFile)}`);
    }
    await sleep(50);
  }
}

async function startPgbouncer(env: Environment, maxSessions: number): Promise<Running> {
  const n = ++startCount;
  const dir = `${env.dir}/pgbouncer`;
  const port = freePort();
  const pidFile = `${dir}/pgbouncer-${n}.pid`;
  const logFile = `${env.dir}/pgbouncer-${n}.log`;
  await Deno.writeTextFile(
    `${dir}/pgbouncer.ini`,
    [
      "[databases]",
      `${TEST_DATABASE} = host=127.0.0.1 port=${env.pg.port} dbname=${TEST_DATABASE}`,
      "",
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      `pidfile = ${pidFile}`,
      "auth_type = scram-sha-256",
      `auth_file = ${dir}/userlist.txt`,
      "pool_mode = session",
      `max_client_conn = ${maxSessions + 200}`,
      `default_pool_size = ${maxSessions + 100}`,
      "max_db_connections = 0",
      "max_user_connections = 0",
      "server_idle_timeout = 5",
      "ignore_startup_parameters = extra_float_digits,options",
      "client_tls_sslmode = require",
      `client_tls_cert_file = ${dir}/client.crt`,
      `client_tls_key_file = ${dir}/client.key`,
      "server_tls_sslmode = require",
      "",
    ].join("\n"),
  );
  if (Deno.uid() === 0) await run("chown", ["-R", "postgres:postgres", dir]);
  // runuser's PAM session resets the open-file limit to 1024: too few for 2 fds per session.
  const child = spawnLogged(
    Deno.uid() === 0 ? "runuser" : "env",
    [
      ...(Deno.uid() === 0 ? ["-u", "postgres", "--"] : []),
      "sh",
      "-c",
      'ulimit -n "$(ulimit -Hn)" && exec pgbouncer "$1"',
      "sh",
      `${dir}/pgbouncer.ini`,
    ],
    logFile,
  );
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const pidText = await Deno.readTextFile(pidFile).catch(() => "");
    if (pidText.trim() !== "") {
      const pid = Number(pidText.trim());
      otherPids.add(pid);
      try {
        const probe = await Deno.connect({ hostname: "127.0.0.1", port });
        probe.close();
        return {
          port,
          pid,
          pids: [pid],
          stop: async () => {
            // SIGTERM is PgBouncer's immediate shutdown; runuser exits with it.
            await stopChild(child, "SIGTERM", pid);
            if (!exited) await stopChild(child, "SIGKILL");
            otherPids.delete(pid);
          },
        };
      } catch {
        // Not listening yet.
      }
    }
    if (exited || Date.now() > deadline) {
      const pid = Number(pidText.trim());
      if (pid > 0) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await stopChild(child, "SIGKILL");
      throw new Error(`pgbouncer did not start:\n${await tail(logFile)}`);
    }
    await sleep(50);
  }
}

function start(env: Environment, candidate: Candidate): Promise<Running> {
  switch (candidate.kind) {
    case "direct":
      return Promise.resolve({
        port: env.pg.port,
        trust: { caFile: env.certs.dbCa, serverName: "db.pgtls.test" },
        stop: () => Promise.resolve(),
      });
    case "pgtls":
      return startPgtls(env, candidate);
    case "pgbouncer":
      return startPgbouncer(env, settings.idleSessions);
  }
}

// ---------------------------------------------------------------- results

/** The metrics one sample can carry (all optional; a failed sample has `error`). */
interface Sample {
  round: number;
  workload: string;
  candidate: string;
  error?: string;
  [metric: string]: number | string | undefined;
}

const samples: Sample[] = [];
const meta: Record<string, unknown> = {};

interface Row {
  readonly workload: string;
  readonly metric: string;
  readonly label: string;
  /** Compared with direct (ratio printed) or an absolute proxy-only value. */
  readonly ratio: boolean;
  /** Work done per second: compared between workers: 2 and 1. */
  readonly rate?: boolean;
  readonly digits: number;
}

const ROWS: readonly Row[] = [
  {
    workload: "select",
    metric: "tps",
    label: "pgbench -S: TPS",
    ratio: true,
    rate: true,
    digits: 0,
  },
  {
    workload: "select",
    metric: "latency_ms",
    label: "pgbench -S: mean latency ms",
    ratio: true,
    digits: 3,
  },
  {
    workload: "select",
    metric: "cpu_us_per_txn",
    label: "pgbench -S: proxy CPU µs/txn",
    ratio: false,
    digits: 1,
  },
  {
    workload: "connect",
    metric: "tps",
    label: "pgbench -S -C: TPS",
    ratio: true,
    rate: true,
    digits: 0,
  },
  {
    workload: "connect",
    metric: "conn_ms",
    label: "pgbench -S -C: mean connect ms",
    ratio: true,
    digits: 2,
  },
  {
    workload: "connect",
    metric: "cpu_ms_per_conn",
    label: "pgbench -S -C: proxy CPU ms/conn",
    ratio: false,
    digits: 3,
  },
  {
    workload: "handshake",
    metric: "per_s",
    label: "TLS handshakes only: per s",
    // PostgreSQL forks a backend per connection before its handshake: no reference.
    ratio: false,
    rate: true,
    digits: 0,
  },
  {
    workload: "handshake",
    metric: "cpu_ms_per_handshake",
    label: "TLS handshakes only: proxy CPU ms each",
    ratio: false,
    digits: 3,
  },
  {
    workload: "copy_out",
    metric: "mb_s",
    label: "COPY TO STDOUT: MB/s",
    ratio: true,
    rate: true,
    digits: 0,
  },
  {
    workload: "copy_out",
    metric: "cpu_s_per_gb",
    label: "COPY TO STDOUT: proxy CPU s/GB",
    ratio: false,
    digits: 2,
  },
  {
    workload: "copy_in",
    metric: "mb_s",
    label: "COPY FROM STDIN: MB/s",
    ratio: true,
    rate: true,
    digits: 0,
  },
  {
    workload: "copy_in",
    metric: "cpu_s_per_gb",
    label: "COPY FROM STDIN: proxy CPU s/GB",
    ratio: false,
    digits: 2,
  },
  {
    workload: "idle",
    metric: "kib_per_session",
    label: "idle sessions: proxy RSS KiB/session",
    ratio: false,
    digits: 1,
  },
  {
    workload: "idle",
    metric: "rss_before_mib",
    label: "idle sessions: proxy RSS MiB before",
    ratio: false,
    digits: 1,
  },
];

function medians(candidates: readonly Candidate[]) {
  const out: Record<string, Record<string, Record<string, number | null>>> = {};
  for (const row of ROWS) {
    const byCandidate: Record<string, number | null> = {};
    for (const c of candidates) {
      byCandidate[c.name] = median(
        samples
          .filter((s) => s.workload === row.workload && s.candidate === c.name && !s.error)
          .map((s) => s[row.metric])
          .filter((v): v is number => typeof v === "number" && Number.isFinite(v)),
      );
    }
    (out[row.workload] ??= {})[row.metric] = byCandidate;
  }
  return out;
}

let activeCandidates: readonly Candidate[] = [];

function writeResults(incomplete: boolean): void {
  Deno.writeTextFileSync(
    jsonPath,
    JSON.stringify(
      {
        incomplete,
        meta,
        settings: { ...settings, rounds },
        medians: medians(activeCandidates),
        samples,
      },
      null,
      2,
    ) + "\n",
  );
}

function table(candidates: readonly Candidate[]): string {
  const med = medians(candidates);
  const header = ["workload (median)", ...candidates.map((c) => c.name)];
  const lines: string[][] = [header];
  for (const row of measuredRows()) {
    const values = med[row.workload]![row.metric]!;
    const base = values.direct;
    const cells = candidates.map((c) => {
      const value = values[c.name];
      if (value === null || value === undefined) {
        const failed = samples.some((s) =>
          s.workload === row.workload && s.candidate === c.name && s.error
        );
        return failed ? "FAILED" : "—";
      }
      const text = value.toFixed(row.digits);
      if (!row.ratio || c.kind === "direct" || !base) return text;
      return `${text} (${(value / base).toFixed(2)}x)`;
    });
    lines.push([row.label, ...cells]);
  }
  return render(lines);
}

/** The rows of the workloads this run measures. */
function measuredRows(): readonly Row[] {
  return ROWS.filter((row) => wantedWorkloads.has(row.workload));
}

/** Each -w2 candidate's rates against its one-worker twin, or null when no pair ran. */
function workersTable(candidates: readonly Candidate[]): string | null {
  const names = new Set(candidates.map((c) => c.name));
  const pairs = candidates.filter((c) => c.workers === 2 && names.has(c.name.slice(0, -3)));
  if (pairs.length === 0) return null;
  const med = medians(candidates);
  const rates = measuredRows().filter((r) => r.rate);
  const lines: string[][] = [
    ["rate (median)", ...pairs.map((c) => `${c.name} ÷ ${c.name.slice(0, -3)}`)],
  ];
  for (const row of rates) {
    const values = med[row.workload]![row.metric]!;
    lines.push([
      row.label,
      ...pairs.map((c) => {
        const two = values[c.name];
        const one = values[c.name.slice(0, -3)];
        return two && one ? `${(two / one).toFixed(2)}x` : "—";
      }),
    ]);
  }
  return render(lines);
}

/** Aligned columns, the first left-aligned, with a rule under the header. */
function render(lines: readonly string[][]): string {
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => [...l[i]!].length)));
  const line = (l: readonly string[]) =>
    l.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ");
  return [
    line(lines[0]!),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.slice(1).map(line),
  ].join("\n");
}

// ---------------------------------------------------------------- workloads

async function pgbench(conninfo: string, seconds: number, connect: boolean) {
  const result = checked(
    "pgbench",
    await exec("pgbench", [
      "-n",
      "-S",
      ...(connect ? ["-C"] : []),
      "-c",
      String(CLIENTS),
      "-j",
      String(THREADS),
      "-T",
      String(seconds),
      conninfo,
    ], { env: libpqEnv, timeoutMs: (seconds + 120) * 1000 }),
  );
  const out = result.stdout;
  const number = (re: RegExp) => {
    const match = re.exec(out);
    return match ? Number(match[1]) : NaN;
  };
  const failed = number(/number of failed transactions: (\d+)/);
  if (failed > 0) throw new Error(`pgbench: ${failed} failed transactions\n${out}`);
  return {
    transactions: number(/number of transactions actually processed: (\d+)/),
    tps: number(/tps = ([\d.]+)/),
    latency_ms: number(/latency average = ([\d.]+) ms/),
    conn_ms: number(/(?:average|initial) connection time = ([\d.]+) ms/),
  };
}

/** The handshake storm against one candidate; fails if any handshake failed. */
async function handshakeStorm(env: Environment, running: Running) {
  const trust = running.trust ?? { caFile: env.certs.proxyCa, serverName: "localhost" };
  const seconds = settings.handshakeSeconds;
  const result = checked(
    "handshake_storm.mjs",
    await exec(`${bin}/bun`, [
      `${root}scripts/bench/handshake_storm.mjs`,
      "127.0.0.1",
      String(running.port),
      trust.caFile,
      trust.serverName,
      String(HANDSHAKE_LOOPS),
      String(seconds),
    ], { timeoutMs: (seconds + 60) * 1000 }),
  );
  const counts = JSON.parse(result.stdout) as {
    handshakes: number;
    failures: number;
    seconds: number;
    client_cpu_ms: number;
  };
  if (counts.failures > 0 || counts.handshakes === 0) {
    throw new Error(`handshake storm: ${counts.failures} of ${counts.handshakes} failed`);
  }
  return { ...counts, per_s: counts.handshakes / counts.seconds };
}

/** Runs `measure` with the proxy's CPU seconds (all its processes) read before and after. */
async function withCpu<T>(
  pids: readonly number[] | undefined,
  measure: () => Promise<T>,
): Promise<{ result: T; cpu?: number }> {
  const before = pids === undefined ? 0 : cpuSecondsOf(pids);
  const result = await measure();
  return { result, cpu: pids === undefined ? undefined : cpuSecondsOf(pids) - before };
}

interface Data {
  /** Exact bytes of `COPY bench_blob TO STDOUT` (text format). */
  readonly copyOutBytes: number;
  readonly uploadFile: string;
  readonly copyInBytes: number;
  readonly copyInRows: number;
}

async function runWorkload(
  workload: string,
  env: Environment,
  data: Data,
  running: Running,
): Promise<Record<string, number>> {
  const pid = running.pids;
  switch (workload) {
    case "select":
    case "connect": {
      const connect = workload === "connect";
      const seconds = connect ? settings.connectSeconds : settings.selectSeconds;
      const conninfo = connString(running.port, running.channelBinding);
      const { result, cpu } = await withCpu(pid, () => pgbench(conninfo, seconds, connect));
      const out: Record<string, number> = { ...result, seconds };
      if (cpu !== undefined) {
        out.cpu_s = cpu;
        if (connect) out.cpu_ms_per_conn = cpu * 1000 / result.transactions;
        else out.cpu_us_per_txn = cpu * 1e6 / result.transactions;
      }
      if (!connect) delete out.conn_ms;
      return out;
    }
    case "handshake": {
      const { result, cpu } = await withCpu(pid, () => handshakeStorm(env, running));
      const out: Record<string, number> = { ...result };
      if (cpu !== undefined) {
        out.cpu_s = cpu;
        out.cpu_ms_per_handshake = cpu * 1000 / result.handshakes;
      }
      return out;
    }
    case "copy_out": {
      const { result, cpu } = await withCpu(pid, async () =>
        checked(
          "psql COPY TO STDOUT",
          await exec(
            "psql",
            [
              connString(running.port, running.channelBinding),
              "-XAtq",
              "-v",
              "ON_ERROR_STOP=1",
              "-c",
              copyOutSql,
            ],
            { env: libpqEnv, stdout: "null" },
          ),
        ));
      const out: Record<string, number> = {
        bytes: data.copyOutBytes,
        seconds: result.seconds,
        mb_s: data.copyOutBytes / 1e6 / result.seconds,
      };
      if (cpu !== undefined) {
        out.cpu_s = cpu;
        out.cpu_s_per_gb = cpu / (data.copyOutBytes / 1e9);
      }
      return out;
    }
    case "copy_in": {
      await env.sql("TRUNCATE bench_upload");
      const { result, cpu } = await withCpu(pid, async () =>
        checked(
          "psql COPY FROM STDIN",
          await exec("sh", [
            "-c",
            'file=$1; shift; exec psql "$@" <"$file"',
            "sh",
            data.uploadFile,
            connString(running.port, running.channelBinding),
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "COPY bench_upload FROM STDIN",
          ], { env: libpqEnv }),
        ));
      const rows = Number(await env.sql("SELECT count(*) FROM bench_upload"));
      if (rows !== data.copyInRows) {
        throw new Error(`COPY FROM STDIN stored ${rows} rows, expected ${data.copyInRows}`);
      }
      const out: Record<string, number> = {
        bytes: data.copyInBytes,
        seconds: result.seconds,
        mb_s: data.copyInBytes / 1e6 / result.seconds,
      };
      if (cpu !== undefined) {
        out.cpu_s = cpu;
        out.cpu_s_per_gb = cpu / (data.copyInBytes / 1e9);
      }
      return out;
    }
    default:
      throw new Error(`unknown workload ${workload}`);
  }
}

const copyOutSql = "COPY bench_blob TO STDOUT";

async function clientBackends(env: Environment): Promise<number> {
  return Number(
    await env.pg.sql(
      `SELECT count(*) FROM pg_stat_activity WHERE usename = '${TEST_USER}'`,
    ),
  );
}

async function waitForBackendsGone(env: Environment, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await clientBackends(env)) > 0) {
    if (Date.now() > deadline) throw new Error("PostgreSQL sessions did not end");
    await sleep(250);
  }
}

/**
 * The proxy's resident memory per idle session: fresh process, a few sessions
 * opened and closed (lazy initialisation, JIT), RSS read; N sessions opened
 * and held; after 2 s RSS read again; (after − before) / N.
 */
async function idleWorkload(
  env: Environment,
  candidate: Candidate,
): Promise<Record<string, number>> {
  const running = await start(env, candidate);
  try {
    const options = {
      hostname: "127.0.0.1",
      port: running.port,
      caCert: env.caPem,
      serverName: "localhost",
      user: TEST_USER,
      password: TEST_PASSWORD,
      database: TEST_DATABASE,
    };
    const warm = await openIdleSessions(20, options);
    await warm.close();
    await sleep(1_000);
    const before = running.pids!.reduce((sum, pid) => sum + residentBytes(pid), 0);
    const n = settings.idleSessions;
    const opened = performance.now();
    const sessions = await openIdleSessions(n, options);
    const openSeconds = (performance.now() - opened) / 1000;
    try {
      await sleep(2_000);
      const after = running.pids!.reduce((sum, pid) => sum + residentBytes(pid), 0);
      const backends = await clientBackends(env);
      if (backends < n) throw new Error(`only ${backends} of ${n} sessions reached PostgreSQL`);
      return {
        sessions: n,
        backends,
        open_seconds: openSeconds,
        rss_before_mib: before / 2 ** 20,
        rss_after_mib: after / 2 ** 20,
        kib_per_session: (after - before) / 1024 / n,
      };
    } finally {
      await sessions.close();
    }
  } finally {
    await running.stop();
    await waitForBackendsGone(env);
  }
}

// ---------------------------------------------------------------- setup

async function machineInfo(): Promise<void> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const meminfo = await Deno.readTextFile("/proc/meminfo");
  meta.date = new Date().toISOString();
  meta.nproc = Number((await run("nproc", [])).stdout.trim());
  meta.cpu_model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? "?";
  meta.mem_total_gib = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0) / 2 ** 20;
  meta.kernel = Deno.osRelease();
  meta.load_average = Deno.loadavg();
  meta.listener_key = listenerKey;
  meta.versions = {
    deno: await firstLine(`${bin}/deno`, ["--version"]),
    bun: await firstLine(`${bin}/bun`, ["--version"]),
    node: await firstLine("node", ["--version"]),
    postgres: await firstLine(`${PG_BIN}/postgres`, ["--version"]),
    pgbench: await firstLine("pgbench", ["--version"]),
    pgbouncer: await firstLine("pgbouncer", ["--version"]),
    openssl: await firstLine("openssl", ["version"]),
    pgtls: await firstLine("git", ["-C", root, "describe", "--always", "--dirty"]),
  };
}

async function ensurePgbouncer(): Promise<boolean> {
  const which = await run("sh", ["-c", "command -v pgbouncer"], { check: false });
  if (which.code === 0) return true;
  if (Deno.uid() !== 0) {
    console.error("bench: pgbouncer is not installed (apt-get install pgbouncer); skipping it");
    return false;
  }
  log("installing pgbouncer (apt-get install -y pgbouncer)");
  // Debian's policy-rc.d in containers (or our start below) keeps the packaged service off;
  // the benchmark never uses it, nor its /etc/pgbouncer config.
  const env = { DEBIAN_FRONTEND: "noninteractive", PATH: Deno.env.get("PATH") ?? "" };
  let result = await run("apt-get", ["install", "-y", "-q", "pgbouncer"], { env, check: false });
  if (result.code !== 0) {
    await run("apt-get", ["update", "-q"], { env, check: false });
    result = await run("apt-get", ["install", "-y", "-q", "pgbouncer"], { env, check: false });
  }
  if (result.code !== 0) {
    console.error(`bench: could not install pgbouncer; skipping it\n${result.stderr}`);
    return false;
  }
  return true;
}

/** The pgtls candidates available here; builds dist/ when the Node.js bundle is missing. */
async function pgtlsCandidates(dir: string): Promise<Candidate[]> {
  // Always rebuilt: a bundle older than the sources would measure other code.
  log("building dist/ (scripts/build.ts)");
  checked(
    "scripts/build.ts",
    await exec(`${bin}/deno`, ["run", "--allow-all", `${root}scripts/build.ts`]),
  );
  // Private copies: others may rebuild dist/ while the benchmark runs.
  await Deno.copyFile(`${root}dist/pgtls.mjs`, `${dir}/pgtls.mjs`);
  const list: Candidate[] = [
    {
      name: "pgtls-deno",
      kind: "pgtls",
      command: [`${bin}/deno`, ["run", "--allow-all", denoV8Flag(), `${root}mod.ts`]],
    },
    { name: "pgtls-node", kind: "pgtls", command: ["node", [...V8_FLAGS, `${dir}/pgtls.mjs`]] },
    { name: "pgtls-bun", kind: "pgtls", command: [`${bin}/bun`, [`${root}mod.ts`]] },
  ];
  try {
    await Deno.copyFile(`${root}dist/pgtls`, `${dir}/pgtls-binary`);
    await Deno.chmod(`${dir}/pgtls-binary`, 0o755);
    list.push({ name: "pgtls-binary", kind: "pgtls", command: [`${dir}/pgtls-binary`, []] });
  } catch {
    log("dist/pgtls not present: skipping the compiled executable");
  }
  const twoWorkers = list.map((c) => ({ ...c, name: `${c.name}-w2`, workers: 2, optIn: true }));
  // pgtls authenticating clients itself, with the SCRAM secret or the plaintext password.
  const withAuth = list.flatMap((c): Candidate[] => [
    { ...c, name: `${c.name}-auth`, auth: "secret", optIn: true },
    { ...c, name: `${c.name}-authpw`, auth: "plaintext", optIn: true },
  ]);
  // The reference point: node:tls and pipe() on each runtime, no pgtls code.
  const naive = `${root}scripts/bench/naive_proxy.mjs`;
  const naiveProxies: Candidate[] = [
    {
      name: "naive-deno",
      kind: "pgtls",
      optIn: true,
      dialsEarly: true,
      command: [`${bin}/deno`, ["run", "-A", naive]],
    },
    {
      name: "naive-node",
      kind: "pgtls",
      optIn: true,
      dialsEarly: true,
      command: ["node", [naive]],
    },
    {
      name: "naive-bun",
      kind: "pgtls",
      optIn: true,
      dialsEarly: true,
      command: [`${bin}/bun`, [naive]],
    },
  ];
  if (flags.baseline) {
    log("bundling the baseline for Node.js");
    checked(
      "bun build (baseline)",
      await exec(`${bin}/bun`, [
        "build",
        `${flags.baseline}/src/cli/bin.ts`,
        "--target=node",
        "--format=esm",
        "--outfile",
        `${dir}/baseline.mjs`,
      ]),
    );
  }
  const baseline: Candidate[] = flags.baseline
    ? [
      {
        name: "baseline-deno",
        kind: "pgtls",
        command: [
          `${bin}/deno`,
          ["run", "--allow-all", denoV8Flag(), `${flags.baseline}/mod.ts`],
        ],
      },
      {
        name: "baseline-node",
        kind: "pgtls",
        command: ["node", [...V8_FLAGS, `${dir}/baseline.mjs`]],
      },
      {
        name: "baseline-bun",
        kind: "pgtls",
        command: [`${bin}/bun`, [`${flags.baseline}/mod.ts`]],
      },
    ]
    : [];
  return [...list, ...baseline, ...twoWorkers, ...withAuth, ...naiveProxies];
}

async function prepareData(env: Environment): Promise<Data> {
  const direct = connString(env.pg.port);
  log(`pgbench -i -s ${settings.scale}`);
  checked(
    "pgbench -i",
    await exec("pgbench", ["-i", "-q", "-s", String(settings.scale), direct], { env: libpqEnv }),
  );
  const lineBytes = BLOB_PAYLOAD_CHARS + 8; // id (up to 6 digits), tab, newline: about
  const outRows = Math.ceil(settings.copyOutBytes / lineBytes);
  log(`bench_blob: ${outRows} rows for COPY out`);
  await env.sql(
    `CREATE UNLOGGED TABLE bench_blob AS SELECT i AS id, repeat(md5(i::text), 31) AS payload ` +
      `FROM generate_series(1, ${outRows}) i`,
  );
  await env.sql("VACUUM ANALYZE bench_blob");
  await env.sql("CREATE UNLOGGED TABLE bench_upload (id int, payload text)");
  // The exact size of COPY's text output: "id<TAB>payload<LF>" per row (no escaping needed).
  const copyOutBytes = Number(
    await env.sql(
      "SELECT sum(length(id::text) + 1 + length(payload) + 1) FROM bench_blob",
    ),
  );
  const inRows = Math.ceil(settings.copyInBytes / lineBytes);
  const uploadFile = `${env.dir}/upload.copy`;
  checked(
    "psql COPY (upload file)",
    await exec("sh", [
      "-c",
      'file=$1; shift; exec psql "$@" >"$file"',
      "sh",
      uploadFile,
      direct,
      "-XAtq",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      `COPY (SELECT * FROM bench_blob WHERE id <= ${inRows} ORDER BY id) TO STDOUT`,
    ], { env: libpqEnv }),
  );
  const copyInBytes = (await Deno.stat(uploadFile)).size;
  log(
    `COPY out ${(copyOutBytes / 1e6).toFixed(1)} MB, COPY in ${
      (copyInBytes / 1e6).toFixed(1)
    } MB (${inRows} rows)`,
  );
  return { copyOutBytes, uploadFile, copyInBytes, copyInRows: inRows };
}

async function setup(): Promise<Environment> {
  const dir = await Deno.makeTempDir({ prefix: "pgtls-bench-" });
  // PostgreSQL and PgBouncer run as postgres and must reach their files.
  await Deno.chmod(dir, 0o755);
  undo.push(() => Deno.removeSync(dir, { recursive: true }));
  log(`working directory ${dir}`);
  const certs = await makeTestCertificates(dir, listenerKey);
  log("starting PostgreSQL 15");
  const pg = await startCluster(`${dir}/pg`, certs.db);
  undo.push(() => pg.stopSync());
  // Enough for the idle sessions (plus pgbench and PgBouncer's pool); needs a restart.
  await pg.sql(`ALTER SYSTEM SET max_connections = ${settings.idleSessions + 200}`);
  const asPostgres = Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
  checked(
    "pg_ctl restart",
    await exec(asPostgres[0] ?? `${PG_BIN}/pg_ctl`, [
      ...asPostgres.slice(1),
      ...(asPostgres.length ? [`${PG_BIN}/pg_ctl`] : []),
      "-D",
      pg.dataDir,
      "-l",
      `${pg.dataDir}/server.log`,
      "-w",
      "-t",
      "60",
      "-m",
      "fast",
      "restart",
    ]),
  );
  const sql = (query: string) => pg.sql(query, TEST_DATABASE);
  return { dir, certs, pg, caPem: await Deno.readTextFile(certs.proxyCa), sql };
}

async function setupPgbouncer(env: Environment): Promise<void> {
  const dir = `${env.dir}/pgbouncer`;
  await Deno.mkdir(dir);
  const secret = await env.pg.sql(
    `SELECT rolpassword FROM pg_authid WHERE rolname = '${TEST_USER}'`,
  );
  await Deno.writeTextFile(`${dir}/userlist.txt`, `"${TEST_USER}" "${secret}"\n`);
  // Its own copy of a certificate for the client leg (the proxy's leaf: localhost, 127.0.0.1).
  await Deno.copyFile(env.certs.proxy.cert, `${dir}/client.crt`);
  await Deno.copyFile(env.certs.proxy.key, `${dir}/client.key`);
  await Deno.chmod(`${dir}/client.key`, 0o600);
}

// ---------------------------------------------------------------- main

const WORKLOADS = ["select", "connect", "handshake", "copy_out", "copy_in"] as const;
/** The workloads this run measures (`--workloads`, default all). */
const wantedWorkloads = new Set(
  flags.workloads?.split(",") ?? ["idle", ...WORKLOADS],
);

async function main(): Promise<void> {
  const started = performance.now();
  await machineInfo();
  const hasPgbouncer = await ensurePgbouncer();
  if (hasPgbouncer) {
    (meta.versions as Record<string, string>).pgbouncer = await firstLine("pgbouncer", [
      "--version",
    ]);
  }
  const env = await setup();
  let candidates: Candidate[] = [
    { name: "direct", kind: "direct" },
    ...await pgtlsCandidates(env.dir),
    ...(hasPgbouncer ? [{ name: "pgbouncer", kind: "pgbouncer" as const }] : []),
  ];
  if (flags.candidates) {
    const wanted = flags.candidates.split(",");
    candidates = candidates.filter((c) => c.kind === "direct" || wanted.includes(c.name));
  } else {
    candidates = candidates.filter((c) => !c.optIn);
  }
  activeCandidates = candidates;
  if (hasPgbouncer) await setupPgbouncer(env);
  const data = await prepareData(env);
  meta.data = data;
  meta.candidates = candidates.map((c) => ({
    name: c.name,
    kind: c.kind,
    command: c.command ? [c.command[0], ...c.command[1]].join(" ") : undefined,
  }));

  for (let round = 1; round <= rounds; round++) {
    if (wantedWorkloads.has("idle")) {
      log(`round ${round}/${rounds}: idle sessions (${settings.idleSessions} per proxy)`);
    }
    for (const candidate of candidates) {
      if (candidate.kind === "direct" || !wantedWorkloads.has("idle")) continue;
      const sample: Sample = {
        round,
        workload: "idle",
        candidate: candidate.name,
        load1: Deno.loadavg()[0],
      };
      try {
        Object.assign(sample, await idleWorkload(env, candidate));
        log(
          `  ${candidate.name}: ${Number(sample.kib_per_session).toFixed(1)} KiB/session ` +
            `(RSS ${Number(sample.rss_before_mib).toFixed(1)} → ${
              Number(sample.rss_after_mib).toFixed(1)
            } MiB)`,
        );
      } catch (error) {
        sample.error = String(error instanceof Error ? error.message : error);
        log(`  ${candidate.name}: FAILED ${sample.error}`);
        await waitForBackendsGone(env).catch(() => {});
      }
      samples.push(sample);
    }

    if (!WORKLOADS.some((w) => wantedWorkloads.has(w))) continue;
    log(`round ${round}/${rounds}: starting the proxies, warming up`);
    const running = new Map<string, Running>();
    try {
      for (const candidate of candidates) {
        try {
          const r = await start(env, candidate);
          running.set(candidate.name, r);
          await pgbench(connString(r.port, r.channelBinding), settings.warmupSeconds, false);
        } catch (error) {
          log(`  ${candidate.name}: failed to start or warm up: ${error}`);
        }
      }
      for (const workload of WORKLOADS.filter((w) => wantedWorkloads.has(w))) {
        for (const candidate of candidates) {
          if (workload === "handshake" && candidate.dialsEarly) continue;
          const sample: Sample = {
            round,
            workload,
            candidate: candidate.name,
            load1: Deno.loadavg()[0],
          };
          const r = running.get(candidate.name);
          try {
            if (!r) throw new Error("not running");
            Object.assign(sample, await runWorkload(workload, env, data, r));
            const headline = workload === "select" || workload === "connect"
              ? `${Number(sample.tps).toFixed(0)} TPS`
              : workload === "handshake"
              ? `${Number(sample.per_s).toFixed(0)} handshakes/s`
              : `${Number(sample.mb_s).toFixed(0)} MB/s`;
            log(`  ${workload} ${candidate.name}: ${headline}`);
          } catch (error) {
            sample.error = String(error instanceof Error ? error.message : error);
            log(`  ${workload} ${candidate.name}: FAILED ${sample.error.slice(0, 500)}`);
          }
          samples.push(sample);
        }
      }
    } finally {
      for (const r of running.values()) await r.stop();
      await waitForBackendsGone(env).catch(() => {});
    }
    writeResults(true);
  }
  const duration = (performance.now() - started) / 1000;
  meta.duration_seconds = duration;
  writeResults(false);

  const versions = meta.versions as Record<string, string>;
  console.log("");
  console.log(
    `pgtls benchmark${flags.quick ? " (--quick)" : ""}: ${meta.nproc} CPUs, ${meta.cpu_model}, ` +
      `${(meta.mem_total_gib as number).toFixed(1)} GiB, Linux ${meta.kernel}`,
  );
  for (const [name, version] of Object.entries(versions)) {
    console.log(`  ${name.padEnd(10)} ${version}`);
  }
  console.log(
    `  ${rounds} round(s), medians; pgbench -c ${CLIENTS} -j ${THREADS} -T ${settings.selectSeconds}` +
      ` (-C: -T ${settings.connectSeconds}), scale ${settings.scale}; COPY out ` +
      `${(data.copyOutBytes / 1e6).toFixed(0)} MB, in ${(data.copyInBytes / 1e6).toFixed(0)} MB; ` +
      `${settings.idleSessions} idle sessions; handshake storm ${HANDSHAKE_LOOPS} loops, ` +
      `${settings.handshakeSeconds} s; listener key ${listenerKey}; TLS on both legs; ` +
      "ratio = value / direct",
  );
  console.log("");
  console.log(table(candidates));
  console.log("");
  const scaling = workersTable(candidates);
  if (scaling) console.log(`workers: 2 against 1 (same run, ratio of medians)\n\n${scaling}\n`);
  console.log(
    `raw samples and medians: ${jsonPath} (${duration.toFixed(0)} s in all)`,
  );
}

try {
  await main();
} catch (error) {
  try {
    writeResults(true);
  } catch {
    // Best effort.
  }
  throw error;
} finally {
  cleanupSync();
}
