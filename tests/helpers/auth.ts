/**
 * Setting up pgtls's own authentication (`auth`) in tests: roles in the test
 * cluster, their secrets read from pg_authid as the superuser, users files,
 * and proxy configs with `auth`.
 *
 * @module
 */

import type { PgCluster } from "./pg.ts";
import type { TestCertificates } from "./certs.ts";
import { proxyConfig } from "./pgtls.ts";
import { settle } from "./settle.ts";

/** The SQL literal of `text`. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The SQL identifier of `name`. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates (or re-creates) a login role with a SCRAM password and access to
 * the test database, as the superuser.
 */
export async function createRole(
  pg: PgCluster,
  name: string,
  password: string | null,
  options = "",
): Promise<void> {
  await pg.sql(`DROP ROLE IF EXISTS ${ident(name)}`);
  await pg.sql(
    `SET password_encryption = 'scram-sha-256'; CREATE ROLE ${ident(name)} LOGIN ${options} ${
      password === null ? "" : `PASSWORD ${literal(password)}`
    }`,
  );
}

/** The role's secret as pg_authid holds it. */
export async function secretOf(pg: PgCluster, role: string): Promise<string> {
  const secret = await pg.sql(`SELECT rolpassword FROM pg_authid WHERE rolname = ${literal(role)}`);
  if (secret === "") throw new Error(`role ${role} has no secret`);
  return secret;
}

/** A users file in PgBouncer's format, quotes doubled. */
export function usersFile(entries: readonly (readonly [string, string])[]): string {
  const quote = (text: string) => `"${text.replaceAll('"', '""')}"`;
  return entries.map(([name, secret]) => `${quote(name)} ${quote(secret)}\n`).join("");
}

/** Writes a users file into `dir`; returns its path. */
export async function writeUsersFile(
  dir: string,
  entries: readonly (readonly [string, string])[],
): Promise<string> {
  const path = await Deno.makeTempFile({ dir, prefix: "users-", suffix: ".txt" });
  await Deno.writeTextFile(path, usersFile(entries));
  return path;
}

/** {@link proxyConfig} with `auth` added. */
export function authProxy(
  certs: TestCertificates,
  port: number,
  auth: Record<string, unknown>,
  backendTls = true,
): Record<string, unknown> {
  return { ...proxyConfig(certs, port, backendTls), auth };
}

/**
 * Adds lines at the top of the cluster's pg_hba.conf (each `host DATABASE
 * USER 127.0.0.1/32 METHOD`) unless they are there, and reloads it.
 */
export async function addHbaLines(pg: PgCluster, lines: readonly string[]): Promise<void> {
  const path = `${pg.dataDir}/pg_hba.conf`;
  const current = await Deno.readTextFile(path);
  const missing = lines.filter((line) => !current.includes(line));
  if (missing.length === 0) return;
  const before = await pg.sql("SELECT pg_conf_load_time()");
  await Deno.writeTextFile(path, `${missing.join("\n")}\n${current}`);
  await pg.sql("SELECT pg_reload_conf()");
  // The postmaster reloads in its own time; a new session shows when it has.
  const loaded = await settle(
    () => pg.sql("SELECT pg_conf_load_time()"),
    (time) => time !== before,
    10_000,
  );
  if (loaded === before) throw new Error("PostgreSQL did not reload pg_hba.conf");
}
