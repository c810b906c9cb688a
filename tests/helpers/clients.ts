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
