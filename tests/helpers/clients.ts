/**
 * Real PostgreSQL clients (psql, pgbench) pointed at pgtls.
 *
 * @module
 */

import { run, type RunResult } from "./run.ts";
import { TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "./pg.ts";

/** libpq connection settings through pgtls. */
export interface ClientTarget {
  readonly port: number;
  /** CA that verifies pgtls's certificate (sslmode=verify-full); none for sslmode=require. */
  readonly caFile?: string;
  /** Extra libpq keywords, e.g. `channel_binding=disable`. */
  readonly extra?: string;
  readonly host?: string;
  readonly sslmode?: string;
}

/** The libpq connection string for `target`. */
export function connString(target: ClientTarget): string {
  return [
    `host=${target.host ?? "localhost"}`,
    `port=${target.port}`,
    `sslmode=${target.sslmode ?? "verify-full"}`,
    // libpq treats require as verify-ca when a root certificate is given.
    target.caFile ? `sslrootcert=${target.caFile}` : "",
    `user=${TEST_USER}`,
    `dbname=${TEST_DATABASE}`,
    `connect_timeout=10`,
    target.extra ?? "",
  ].filter((part) => part !== "").join(" ");
}

/** Environment for libpq programs: the password, and no user-level settings. */
export function libpqEnv(): Record<string, string> {
  return { PGPASSWORD: TEST_PASSWORD, PGCONNECT_TIMEOUT: "10", PSQLRC: "/dev/null" };
}

/** Runs psql through pgtls with `-c query`, unaligned and tuples-only. */
export function psql(
  target: ClientTarget,
  query: string,
  options: { check?: boolean } = {},
): Promise<RunResult> {
  return run("psql", [connString(target), "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", query], {
    env: libpqEnv(),
    check: options.check,
  });
}

/** The query {@link interruptedSleep} runs and interrupts. */
const SLEEP_QUERY = "SELECT pg_sleep(30)";

/**
 * Runs `SELECT pg_sleep(30)` with psql, waits until `backendSql` sees it
 * running, then sends psql SIGINT (Ctrl-C), which makes libpq send a
 * CancelRequest on a new connection. Returns psql's stderr and exit code.
 */
export async function interruptedSleep(
  target: ClientTarget,
  backendSql: (query: string) => Promise<string>,
): Promise<{ stderr: string; code: number }> {
  const child = new Deno.Command("psql", {
    args: [connString(target), "-X", "-c", SLEEP_QUERY],
    env: libpqEnv(),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await waitUntilRunning(backendSql);
  } catch (error) {
    child.kill("SIGKILL");
    await child.output();
    throw error;
  }
  child.kill("SIGINT");
  const output = await child.output();
  return { stderr: new TextDecoder().decode(output.stderr), code: output.code };
}

/** Polls pg_stat_activity until the sleep is running. */
async function waitUntilRunning(sql: (query: string) => Promise<string>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const count = await sql(
      `SELECT count(*) FROM pg_stat_activity WHERE query = '${SLEEP_QUERY}' AND state = 'active'`,
    );
    if (count === "1") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the query never started");
}
