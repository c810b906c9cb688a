/**
 * node-postgres's own tests, from a checkout of its monorepo, against one
 * endpoint: pg's integration tests (each file a program, as its Makefile's
 * `test-integration` runs them: `node FILE postgres://`, settings from the
 * PG* environment) and the mocha suites of pg-cursor, pg-pool and
 * pg-query-stream.
 *
 * Their npm dependencies live in a scratch directory outside the checkout,
 * filled once by {@link prepareDeps} (the only step that uses the network),
 * and are found through NODE_PATH. The workspace packages that run from
 * source (pg, pg-connection-string, pg-cursor, pg-pool, pg-query-stream)
 * are linked there from the checkout, so the tests exercise the checkout's
 * code; pg-protocol, which is TypeScript built at publication, comes from
 * npm at the checkout's version.
 *
 * @module
 */

import type { Outcome } from "./outcomes.ts";
import { runLogged } from "./child.ts";
import type { Endpoint, SuiteResult } from "./endpoint.ts";
import { TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "../../tests/helpers/pg.ts";

/** Workspace packages whose tests run, in this order (pg first: its integration files). */
const MOCHA_PACKAGES = ["pg-cursor", "pg-pool", "pg-query-stream"] as const;
/** Workspace packages linked into the scratch directory from the checkout. */
const LINKED = ["pg", "pg-connection-string", "pg-cursor", "pg-pool", "pg-query-stream"];
/** Workspace packages installed from npm at the checkout's version (built from TypeScript). */
const FROM_NPM = ["pg-protocol"];
/** Development dependencies the tests run without: Cloudflare Workers' test kit, type packages. */
const NOT_NEEDED = /^(@cloudflare\/|@types\/|vitest$|wrangler$|eslint)/;

/** How to run node-postgres's tests. */
export interface NodePostgresOptions {
  readonly checkout: string;
  /** The scratch directory {@link prepareDeps} filled. */
  readonly deps: string;
  /** The `node` to run them with. */
  readonly node: string;
  /** Seconds one integration file, or one package's mocha run, may take. */
  readonly fileTimeout: number;
  /** Where logs go. */
  readonly work: string;
}

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
}

async function packageJson(checkout: string, name: string): Promise<PackageJson> {
  return JSON.parse(await Deno.readTextFile(`${checkout}/packages/${name}/package.json`));
}

/**
 * Installs the tests' npm dependencies into `deps` (npm, from the registry)
 * and links the checkout's packages there. Run once per checkout.
 */
export async function prepareDeps(checkout: string, deps: string): Promise<void> {
  const wanted: Record<string, string> = {};
  const workspace = new Set<string>();
  for await (const entry of Deno.readDir(`${checkout}/packages`)) {
    if (entry.isDirectory) workspace.add(entry.name);
  }
  for (const name of ["pg", ...MOCHA_PACKAGES]) {
    const pkg = await packageJson(checkout, name);
    for (const [dep, range] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      if (!workspace.has(dep) && !NOT_NEEDED.test(dep)) wanted[dep] = range;
    }
  }
  for (const name of FROM_NPM) wanted[name] = (await packageJson(checkout, name)).version;
  await Deno.mkdir(deps, { recursive: true });
  await Deno.writeTextFile(
    `${deps}/package.json`,
    JSON.stringify(
      { name: "node-postgres-test-deps", private: true, dependencies: wanted },
      null,
      2,
    ),
  );
  const npm = await new Deno.Command("npm", {
    args: ["install", "--no-audit", "--no-fund", "--ignore-scripts"],
    cwd: deps,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (npm.code !== 0) throw new Error(`npm install in ${deps} exited ${npm.code}`);
  await linkCheckout(checkout, deps);
}

/** (Re)links the checkout's packages into `deps`: no network. */
export async function linkCheckout(checkout: string, deps: string): Promise<void> {
  for (const name of LINKED) {
    const link = `${deps}/node_modules/${name}`;
    await Deno.remove(link, { recursive: false }).catch(() => {});
    await Deno.symlink(`${checkout}/packages/${name}`, link);
  }
}

/** The PG* environment node-postgres reads, for `endpoint`, verified in full. */
function clientEnv(options: NodePostgresOptions, endpoint: Endpoint): Record<string, string> {
  return {
    PGHOST: "localhost",
    PGPORT: String(endpoint.port),
    PGUSER: TEST_USER,
    PGPASSWORD: TEST_PASSWORD,
    PGDATABASE: TEST_DATABASE,
    // node-postgres maps verify-full to ssl: true, which verifies against Node's CAs.
    PGSSLMODE: "verify-full",
    NODE_EXTRA_CA_CERTS: endpoint.caFile,
    NODE_PATH: `${options.deps}/node_modules`,
    // ts-node compiles pg-query-stream's tests without type checks: no @types needed.
    TS_NODE_TRANSPILE_ONLY: "true",
  };
}

/** pg's integration test files, as its Makefile finds them (`*-tests.js`). */
async function integrationFiles(pgDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(`${pgDir}/${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith("-tests.js")) found.push(path);
    }
  };
  await walk("test/integration");
  return found.sort();
}

/** Runs every test once against `endpoint`; `label` names its log. */
export async function runNodePostgres(
  options: NodePostgresOptions,
  endpoint: Endpoint,
  label: string,
): Promise<SuiteResult> {
  await linkCheckout(options.checkout, options.deps);
  const log = `${options.work}/node-postgres-${label}.log`;
  const env = clientEnv(options, endpoint);
  const outcomes = new Map<string, Outcome>();
  const details = new Map<string, string>();
  let seconds = 0;
  const pgDir = `${options.checkout}/packages/pg`;
  for (const file of await integrationFiles(pgDir)) {
    const id = `pg ${file}`;
    let failedTest = "";
    let firstError = "";
    let lastLine = "";
    const finished = await runLogged(options.node, [file, "postgres://"], {
      cwd: pgDir,
      env,
      log,
      timeoutMs: options.fileTimeout * 1000,
      onLine: (line) => {
        if (line.trim() !== "") lastLine = line.trim();
        if (line.includes("FAILED!")) failedTest ||= line.replace("FAILED!", "").trim();
        // test-helper.js prints an uncaught error as "Message: …"; assert prints "…Error: …".
        if (/^(Message: |\w*Error: )/.test(line.trim())) firstError ||= line.trim();
      },
    });
    seconds += finished.seconds;
    if (finished.timedOut) {
      outcomes.set(id, "timeout");
      details.set(id, `killed after ${options.fileTimeout} s; last output: ${lastLine}`);
    } else if (finished.code === 0) {
      outcomes.set(id, "passed");
    } else {
      outcomes.set(id, "failed");
      const why = firstError || lastLine;
      details.set(
        id,
        failedTest ? `${failedTest} FAILED: ${why}` : `exit ${finished.code}: ${why}`,
      );
    }
  }
  const mocha = `${options.deps}/node_modules/mocha/bin/mocha.js`;
  for (const name of MOCHA_PACKAGES) {
    const args = name === "pg-query-stream"
      ? ["-r", `${options.deps}/node_modules/ts-node/register`, "test/**/*.ts"]
      : [];
    const seen = new Map<string, number>();
    let lastTest = "";
    const finished = await runLogged(
      options.node,
      [mocha, "--reporter", "json-stream", ...args],
      {
        cwd: `${options.checkout}/packages/${name}`,
        env,
        log,
        timeoutMs: options.fileTimeout * 1000,
        onLine: (line) => {
          if (!line.startsWith("[")) return;
          const [event, test] = JSON.parse(line) as [string, { fullTitle?: string; err?: string }];
          if ((event !== "pass" && event !== "fail") || test.fullTitle === undefined) return;
          // Titles repeat in places (hooks, parametrised cases): number the repeats.
          const count = (seen.get(test.fullTitle) ?? 0) + 1;
          seen.set(test.fullTitle, count);
          const id = `${name} ${test.fullTitle}${count > 1 ? ` #${count}` : ""}`;
          lastTest = id;
          outcomes.set(id, event === "pass" ? "passed" : "failed");
          if (event === "fail") details.set(id, String(test.err ?? "").slice(0, 500));
        },
      },
    );
    seconds += finished.seconds;
    // The run itself: it must end (no hang in a test or in what a test left open).
    const run = `${name} (mocha run exits)`;
    outcomes.set(run, finished.timedOut ? "timeout" : "passed");
    if (finished.timedOut) {
      details.set(run, `killed after ${options.fileTimeout} s; last test reported: ${lastTest}`);
    }
  }
  return { outcomes, details, seconds, log };
}
