/**
 * Profiles pgtls's CPU under one workload, so that tuning starts from where
 * the time goes rather than from guesses.
 *
 * Starts a throwaway PostgreSQL 15 (ssl=on), runs pgtls with V8's sampling
 * profiler (`--cpu-prof`: Deno, Node.js or Bun) in front of it with TLS on both
 * legs, drives the workload through it, stops pgtls and prints the functions
 * with the most self time and the files they live in. The raw `.cpuprofile`
 * opens in Chrome DevTools.
 *
 * Usage: deno task profile [--runtime deno|node|bun] [--workload select|connect|copy-out|copy-in]
 *                          [--seconds N] [--top N] [--out DIR]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { makeTestCertificates } from "../tests/helpers/certs.ts";
import { startCluster, TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "../tests/helpers/pg.ts";
import { freePort, run } from "../tests/helpers/run.ts";
import { proxyConfig } from "../tests/helpers/pgtls.ts";
import { denoV8Flag, V8_FLAGS } from "../src/runtime/v8/flags.ts";

const root = new URL("../", import.meta.url).pathname;
const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    runtime: { type: "string", default: "deno" },
    workload: { type: "string", default: "select" },
    seconds: { type: "string", default: "15" },
    top: { type: "string", default: "30" },
    out: { type: "string" },
  },
});
const seconds = Number(flags.seconds);
const workloads = ["select", "connect", "copy-out", "copy-in"];
if (!["deno", "node", "bun"].includes(flags.runtime) || !workloads.includes(flags.workload)) {
  console.error(
    "usage: profile [--runtime deno|node|bun] [--workload select|connect|copy-out|copy-in]",
  );
  Deno.exit(2);
}

const dir = await Deno.makeTempDir({ prefix: "pgtls-profile-" });
await Deno.chmod(dir, 0o755);
const outDir = flags.out ?? `${dir}/profile`;
const certs = await makeTestCertificates(dir);
const pg = await startCluster(`${dir}/pg`, certs.db);
const env = {
  PGPASSWORD: TEST_PASSWORD,
  PSQLRC: "/dev/null",
  PGSSLROOTCERT: "/nonexistent/root.crt",
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
};

try {
  await prepare(flags.workload);
  const configFile = `${dir}/pgtls.json`;
  await Deno.writeTextFile(
    configFile,
    JSON.stringify({
      log: { level: "warn" },
      shutdown_timeout: "1s",
      proxies: [{ name: "profile", ...proxyConfig(certs, pg.port) }],
    }),
  );
  const port = freePort();
  const [command, args] = flags.runtime === "deno"
    ? [`${root}node_modules/.bin/deno`, [
      "run",
      "--allow-all",
      denoV8Flag(),
      "--cpu-prof",
      `--cpu-prof-dir=${outDir}`,
      `${root}mod.ts`,
    ]]
    : flags.runtime === "bun"
    ? [`${root}node_modules/.bin/bun`, ["--cpu-prof", `--cpu-prof-dir=${outDir}`, `${root}mod.ts`]]
    : ["node", [...V8_FLAGS, "--cpu-prof", `--cpu-prof-dir=${outDir}`, `${root}dist/pgtls.mjs`]];
  const pgtls = new Deno.Command(command, {
    args: [...args, "serve", "--config", configFile, "--listen", `127.0.0.1:${port}`],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  console.error(`profiling pgtls on ${flags.runtime}, ${flags.workload}, ${seconds} s`);
  console.error(await drive(flags.workload, port));
  pgtls.kill("SIGTERM");
  await pgtls.status;
  const file = [...Deno.readDirSync(outDir)].find((e) => e.name.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile in ${outDir}`);
  const path = `${outDir}/${file.name}`;
  // Bun samples only while JavaScript runs, and its time deltas span the gaps
  // between: each sample then counts once rather than for its delta.
  const bySamples = flags.runtime === "bun";
  console.log(
    summarize(JSON.parse(await Deno.readTextFile(path)), Number(flags.top), bySamples),
  );
  console.log(`profile: ${path}`);
} finally {
  pg.stopSync();
  if (!flags.out) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

function connString(port: number): string {
  return `host=127.0.0.1 port=${port} sslmode=require channel_binding=disable ` +
    `user=${TEST_USER} dbname=${TEST_DATABASE}`;
}

async function prepare(workload: string): Promise<void> {
  if (workload === "select" || workload === "connect") {
    await run("pgbench", ["-i", "-s", "10", "-q", connString(pg.port)], { env });
  } else {
    await pg.sql(
      "CREATE TABLE blob AS SELECT g AS id, repeat(md5(g::text), 31) AS payload " +
        "FROM generate_series(1, 300000) g",
      TEST_DATABASE,
    );
  }
}

async function drive(workload: string, port: number): Promise<string> {
  const psql = (sql: string, stdin?: string) =>
    run("bash", ["-c", `psql "${connString(port)}" -X -q -c "${sql}" ${stdin ?? ""}`], { env });
  const deadline = Date.now() + seconds * 1000;
  let rounds = 0;
  switch (workload) {
    case "select":
    case "connect": {
      const connect = workload === "connect" ? ["-C"] : [];
      const result = await run("pgbench", [
        "-S",
        ...connect,
        "-c",
        "8",
        "-j",
        "2",
        "-T",
        String(seconds),
        connString(port),
      ], { env });
      return result.stdout.split("\n").filter((l) => l.startsWith("tps")).join("\n");
    }
    case "copy-out":
      while (Date.now() < deadline) {
        await psql("COPY blob TO STDOUT", "> /dev/null");
        rounds++;
      }
      return `${rounds} COPY out of 300,000 rows`;
    default: {
      const file = `${dir}/blob.copy`;
      await run("bash", [
        "-c",
        `psql "${connString(pg.port)}" -X -q -c "COPY blob TO STDOUT" > ${file}`,
      ], {
        env,
      });
      while (Date.now() < deadline) {
        await psql("TRUNCATE blob; COPY blob FROM STDIN", `< ${file}`);
        rounds++;
      }
      return `${rounds} COPY in of 300,000 rows`;
    }
  }
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`pgtls did not listen on ${port}`);
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time per function and per file, largest first. */
function summarize(profile: CpuProfile, top: number, bySamples: boolean): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const perFunction = new Map<string, number>();
  const perFile = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = bySamples ? 1 : profile.timeDeltas[i] ?? 0;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    total += delta;
    const file = frame.url.replace(/^.*\/(ext|node_modules|src)\//, "$1/") || "(native)";
    const name = `${frame.functionName || "(anonymous)"}  ${file}:${frame.lineNumber + 1}`;
    perFunction.set(name, (perFunction.get(name) ?? 0) + delta);
    perFile.set(file, (perFile.get(file) ?? 0) + delta);
  });
  const rows = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, micros]) =>
      `${(100 * micros / total).toFixed(1).padStart(5)}%  ${name}`
    ).join("\n");
  const sampled = bySamples ? `${total} samples` : `${(total / 1e6).toFixed(2)} s`;
  return `total sampled ${sampled}\n\nself time by function:\n${
    rows(perFunction)
  }\n\nself time by file:\n${rows(perFile)}`;
}
