/**
 * Runs a PostgreSQL driver's own test suite directly against PostgreSQL and
 * through pgtls under each target, in one session against one cluster, and
 * prints what differs: tests that fail through pgtls and pass directly,
 * tests that flip between direct runs (timing), and tests that fail
 * everywhere (the environment). A hang shows as a named test that timed
 * out, not as a stuck run.
 *
 * The driver's sources are a checkout the person running this fetched
 * (nothing is downloaded at test time); nothing is written into it but
 * what its own tests write. See `--help`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { compare, report, runsFromJson, type SuiteRun, toJson } from "./suites/outcomes.ts";
import {
  directEndpoint,
  type Endpoint,
  pgtlsEndpoint,
  type SuiteResult,
} from "./suites/endpoint.ts";
import { runPsycopg } from "./suites/psycopg_suite.ts";
import { prepareDeps, runNodePostgres } from "./suites/node_postgres_suite.ts";

const USAGE = `Usage:
  deno run -A scripts/driver_suites.ts psycopg CHECKOUT [options] [-- PYTEST_ARGS]
  deno run -A scripts/driver_suites.ts node-postgres CHECKOUT --deps DIR [options]
  deno run -A scripts/driver_suites.ts node-postgres-deps CHECKOUT --deps DIR
  deno run -A scripts/driver_suites.ts report FILE.json [FILE.json ...]

psycopg: CHECKOUT is a checkout of github.com/psycopg/psycopg at the tag of the
  installed psycopg (Debian 12: 3.1.7, with python3-psycopg, python3-pytest,
  python3-pytest-asyncio and python3-anyio). Runs its pytest suite with
  -m "not proxy and not mypy" and --test-dsn; psycopg_pool from the checkout.
node-postgres: CHECKOUT is a checkout of github.com/brianc/node-postgres (say the
  tag pg@8.23.0); runs packages/pg/test/integration/**/*-tests.js one by one,
  then the mocha suites of pg-cursor, pg-pool and pg-query-stream.
node-postgres-deps: installs those tests' npm dependencies into DIR (a scratch
  directory outside the checkout) and links the checkout's packages there.
  The only step that uses the network; run it once before node-postgres.
report: the comparison again, from the --json files of one or more sessions
  together (say a session of extra direct runs); labels that repeat get a suffix.

Options:
  --targets LIST       pgtls targets, any of deno,node,bun,binary (default all four;
                       node and binary run dist/, so build it first: deno task build)
  --direct-runs N      direct runs, spread around the pgtls ones (default 2)
  --timeout S          seconds one test phase (psycopg) or one test file or mocha
                       package (node-postgres) may take (default 120 / 600)
  --run-timeout S      psycopg: seconds one whole run may take (default 7200)
  --python PATH        psycopg: the Python with psycopg installed (default /usr/bin/python3)
  --node PATH          node-postgres: the node to run the tests with (default node)
  --json FILE          writes every run's outcomes and the comparison
  --work DIR           where the runs' logs go (default a new temporary directory)
Exit status: 0 when nothing failed or hung through pgtls that passed in every
direct run, 1 otherwise.`;

const { values: flags, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    targets: { type: "string", default: "deno,node,bun,binary" },
    "direct-runs": { type: "string", default: "2" },
    timeout: { type: "string" },
    "run-timeout": { type: "string", default: "7200" },
    python: { type: "string", default: "/usr/bin/python3" },
    node: { type: "string", default: "node" },
    deps: { type: "string" },
    json: { type: "string" },
    work: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

function fail(message: string): never {
  console.error(`driver_suites: ${message}\n\n${USAGE}`);
  Deno.exit(2);
}

if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const [suite, checkoutArg, ...pytestArgs] = positionals;
if (suite === "report") {
  const runs: SuiteRun[] = [];
  for (const file of positionals.slice(1)) {
    for (const run of runsFromJson(JSON.parse(await Deno.readTextFile(file)))) {
      const taken = (label: string) => runs.some((other) => other.label === label);
      let label = run.label;
      for (let n = 2; taken(label); n++) label = `${run.label}.${n}`;
      runs.push({ ...run, label });
    }
  }
  if (runs.length === 0) fail("report needs --json files");
  console.log(report(runs, compare(runs)));
  Deno.exit(0);
}
if (checkoutArg === undefined) fail("a suite and a checkout are needed");
const checkout = await Deno.realPath(checkoutArg).catch(() =>
  fail(`no such checkout: ${checkoutArg}`)
);
const deps = flags.deps === undefined ? undefined : await absolute(flags.deps);

async function absolute(path: string): Promise<string> {
  await Deno.mkdir(path, { recursive: true });
  return await Deno.realPath(path);
}

if (suite === "node-postgres-deps") {
  if (deps === undefined) fail("--deps DIR is needed");
  await prepareDeps(checkout, deps);
  console.log(`driver_suites: node-postgres's test dependencies are in ${deps}`);
  Deno.exit(0);
}

type Runner = (endpoint: Endpoint, label: string) => Promise<SuiteResult>;
const work = flags.work === undefined
  ? await Deno.makeTempDir({ prefix: "pgtls-suites-" })
  : await absolute(flags.work);
let runner: Runner;
if (suite === "psycopg") {
  const options = {
    checkout,
    python: flags.python,
    testTimeout: Number(flags.timeout ?? 120),
    runTimeout: Number(flags["run-timeout"]),
    pytestArgs,
    work,
  };
  runner = (endpoint, label) => runPsycopg(options, endpoint, label);
} else if (suite === "node-postgres") {
  if (deps === undefined) fail("--deps DIR is needed (fill it with node-postgres-deps first)");
  try {
    await Deno.stat(`${deps}/node_modules/mocha`);
  } catch {
    fail(`${deps} has no test dependencies: run node-postgres-deps first`);
  }
  const options = {
    checkout,
    deps,
    node: flags.node,
    fileTimeout: Number(flags.timeout ?? 600),
    work,
  };
  runner = (endpoint, label) => runNodePostgres(options, endpoint, label);
} else {
  fail(`unknown suite ${suite}`);
}

const targets = flags.targets.split(",").map((t) => t.trim()).filter((t) => t !== "");
const built: Record<string, string> = { node: "dist/pgtls.mjs", binary: "dist/pgtls" };
for (const target of targets) {
  if (!["deno", "node", "bun", "binary"].includes(target)) fail(`unknown target ${target}`);
  const file = built[target];
  if (file !== undefined && !await exists(new URL(`../${file}`, import.meta.url).pathname)) {
    fail(`${file} is missing: build it first (deno task build), or leave out ${target}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
const directRuns = Number(flags["direct-runs"]);
if (!Number.isInteger(directRuns) || directRuns < 1) fail("--direct-runs must be 1 or more");

// The cluster and pgtls processes go away on Ctrl-C too (the fixture's unload handler).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => Deno.exit(130));
}

/** Direct runs first and last (and, beyond two, spread between), pgtls runs between. */
function schedule(): ({ direct: true; n: number } | { direct: false; target: string })[] {
  const plan: ({ direct: true; n: number } | { direct: false; target: string })[] = [];
  const between = targets.length / Math.max(directRuns - 1, 1);
  let next = 0;
  for (let n = 1; n <= directRuns; n++) {
    plan.push({ direct: true, n });
    if (n === directRuns) break;
    const until = n === directRuns - 1 ? targets.length : Math.round(between * n);
    for (; next < until; next++) plan.push({ direct: false, target: targets[next]! });
  }
  for (; next < targets.length; next++) plan.push({ direct: false, target: targets[next]! });
  return plan;
}

/** One run against `endpoint` (a pgtls is stopped afterwards, and tells how its sessions ended). */
async function runOnce(label: string, direct: boolean): Promise<SuiteRun> {
  if (direct) return { label, direct, ...await runner(await directEndpoint(), label) };
  const pgtls = await pgtlsEndpoint(label);
  let result: SuiteResult;
  try {
    result = await runner(pgtls, label);
  } catch (error) {
    // A failed run must not leave pgtls behind.
    await pgtls.stop();
    throw error;
  }
  const stopped = await pgtls.stop();
  return { label, direct, ...result, sessionEnds: stopped.ends, pgtlsExit: stopped.exit };
}

console.log(`driver_suites: ${suite} from ${checkout}; logs in ${work}`);
const runs: SuiteRun[] = [];
for (const step of schedule()) {
  const label = step.direct ? `direct-${step.n}` : step.target;
  console.log(`driver_suites: ${label} ...`);
  const run = await runOnce(label, step.direct);
  runs.push(run);
  const failed = [...run.outcomes.values()].filter((o) => o === "failed" || o === "timeout");
  console.log(
    `driver_suites: ${label}: ${run.outcomes.size} tests, ${failed.length} failed or hung, ` +
      `${(run.seconds / 60).toFixed(1)} min (log ${run.log})`,
  );
}

const comparison = compare(runs);
console.log(`\n${report(runs, comparison)}`);
if (flags.json !== undefined) {
  await Deno.writeTextFile(flags.json, JSON.stringify(toJson(runs, comparison), null, 2));
}
const regressed = [...comparison.regressions.values()].some((ids) => ids.length > 0) ||
  [...comparison.missing.values()].some((ids) => ids.length > 0);
Deno.exit(regressed ? 1 : 0);
