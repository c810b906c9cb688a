/**
 * psycopg 3's own pytest suite, from a checkout of its repository, against
 * one endpoint. psycopg itself is the installed one (Debian's
 * python3-psycopg); psycopg_pool, which Debian does not package, comes from
 * the checkout. Each test phase gets a watchdog (`pytest_watchdog.py`), so a
 * hang shows as a named test that timed out, with SSL_pending of its
 * connections, instead of a stuck run.
 *
 * @module
 */

import type { Outcome } from "./outcomes.ts";
import { runLogged } from "./child.ts";
import type { Endpoint, SuiteResult } from "./endpoint.ts";
import { TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "../../tests/helpers/pg.ts";

const here = new URL(".", import.meta.url).pathname;

/** How to run psycopg's suite. */
export interface PsycopgOptions {
  readonly checkout: string;
  readonly python: string;
  /** Seconds one test phase may take. */
  readonly testTimeout: number;
  /** Seconds the whole run may take before pytest is killed. */
  readonly runTimeout: number;
  /** Further pytest arguments (say `-k test_cursor`). */
  readonly pytestArgs: readonly string[];
  /** Where logs and pytest's cache go. */
  readonly work: string;
}

/** The libpq connection string for `endpoint`, as psycopg's `--test-dsn`. */
export function testDsn(endpoint: Endpoint): string {
  return [
    "host=localhost",
    `port=${endpoint.port}`,
    `user=${TEST_USER}`,
    `password=${TEST_PASSWORD}`,
    `dbname=${TEST_DATABASE}`,
    "sslmode=verify-full",
    `sslrootcert=${endpoint.caFile}`,
    // SCRAM channel binding cannot span pgtls's two TLS sessions (README); off for both.
    "channel_binding=disable",
    "connect_timeout=10",
  ].join(" ");
}

/** One JSON line of pytest_watchdog.py. */
interface PhaseLine {
  readonly id: string;
  readonly when: "start" | "setup" | "call" | "teardown";
  readonly outcome?: "passed" | "failed" | "skipped" | "timeout";
  /** For a failure: the watchdog's line, or the last line of the report. */
  readonly message?: string;
}

/** Runs the suite once against `endpoint`; `label` names its files. */
export async function runPsycopg(
  options: PsycopgOptions,
  endpoint: Endpoint,
  label: string,
): Promise<SuiteResult> {
  const results = `${options.work}/psycopg-${label}.jsonl`;
  const log = `${options.work}/psycopg-${label}.log`;
  await Deno.remove(results).catch(() => {});
  const finished = await runLogged(options.python, [
    "-m",
    "pytest",
    "-p",
    "pytest_watchdog",
    // A fresh cache each run, outside the checkout: psycopg's conftest refuses to run after a
    // run it believes crashed, which a killed one looks like.
    "-o",
    `cache_dir=${options.work}/pytest-cache-${label}`,
    "-q",
    "--no-header",
    "-m",
    "not proxy and not mypy",
    "--test-dsn",
    testDsn(endpoint),
    ...options.pytestArgs,
  ], {
    cwd: options.checkout,
    env: {
      PYTHONPATH: `${here}:${options.checkout}/psycopg_pool`,
      PGTLS_SUITE_RESULTS: results,
      PGTLS_SUITE_TIMEOUT: String(options.testTimeout),
    },
    log,
    timeoutMs: options.runTimeout * 1000,
  });
  const outcomes = new Map<string, Outcome>();
  const details = new Map<string, string>();
  let text = "";
  try {
    text = await Deno.readTextFile(results);
  } catch {
    // pytest never got to a test: see the log.
  }
  let running: string | null = null;
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    const line = JSON.parse(raw) as PhaseLine;
    if (line.when === "start") {
      running = line.id;
      continue;
    }
    if (line.when === "teardown") running = null;
    const before = outcomes.get(line.id);
    const outcome = line.outcome!;
    if (line.message && !details.has(line.id)) {
      details.set(line.id, `${line.when}: ${line.message}`);
    }
    if (outcome === "timeout" || (outcome === "failed" && before !== "timeout")) {
      outcomes.set(line.id, outcome);
    } else if (outcome === "skipped" && before === undefined) {
      outcomes.set(line.id, "skipped");
    } else if (outcome === "passed" && line.when === "call" && before === undefined) {
      outcomes.set(line.id, "passed");
    }
  }
  if (running !== null && finished.timedOut) {
    outcomes.set(running, "timeout");
    details.set(running, `the whole run was killed after ${options.runTimeout} s while in it`);
  }
  if (finished.code !== null && finished.code > 1) {
    details.set("(pytest)", `pytest exited ${finished.code}: see ${log}`);
  }
  return { outcomes, details, seconds: finished.seconds, log };
}
