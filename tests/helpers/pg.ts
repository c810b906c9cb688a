/**
 * A throwaway PostgreSQL 15 cluster for tests: its own data directory, a free
 * port on 127.0.0.1, ssl=on with the test database certificate, and
 * scram-sha-256 password authentication for TCP clients.
 *
 * @module
 */

import { freePort, run } from "./run.ts";
import type { LeafFiles } from "./certs.ts";

/** Where PostgreSQL's server programs live. */
export const PG_BIN = Deno.env.get("PGTLS_PG_BIN") ?? "/usr/lib/postgresql/15/bin";

/** The login role tests use, with a password (scram-sha-256). */
export const TEST_USER = "pgtls_app";
/** Its password. */
export const TEST_PASSWORD = "s3cret-pgtls";
/** The test database. */
export const TEST_DATABASE = "pgtls_test";

/** A running test cluster. */
export interface PgCluster {
  readonly port: number;
  readonly dataDir: string;
  /** Runs SQL as the superuser over the Unix socket in `database`; returns unaligned output. */
  sql(query: string, database?: string): Promise<string>;
  /** Stops the server (immediate shutdown). Synchronous so it can run at exit. */
  stopSync(): void;
}

const isRoot = Deno.uid() === 0;

/** PostgreSQL refuses to run as root; as root, run its programs as `postgres`. */
function asPostgres(program: string, args: readonly string[]): [string, string[]] {
  return isRoot ? ["runuser", ["-u", "postgres", "--", program, ...args]] : [program, [...args]];
}

/** Creates and starts a cluster under `baseDir`, serving `cert` for TLS (or none: ssl=off). */
export async function startCluster(
  baseDir: string,
  cert: LeafFiles | undefined,
): Promise<PgCluster> {
  const dataDir = `${baseDir}/pgdata`;
  const port = freePort();
  await Deno.mkdir(dataDir, { recursive: true });
  if (isRoot) {
    await run("chown", ["postgres:postgres", baseDir, dataDir]);
    await Deno.chmod(baseDir, 0o755);
  }
  await run(...asPostgres(`${PG_BIN}/initdb`, [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--no-sync",
    "-E",
    "UTF8",
    "--locale=C",
  ]));
  // The server wants its key readable by itself only.
  const files = cert ? [[cert.cert, "server.crt"], [cert.key, "server.key"]] as const : [];
  for (const [from, to] of files) {
    await Deno.copyFile(from, `${dataDir}/${to}`);
    await Deno.chmod(`${dataDir}/${to}`, 0o600);
    if (isRoot) await run("chown", ["postgres:postgres", `${dataDir}/${to}`]);
  }
  await Deno.writeTextFile(
    `${dataDir}/postgresql.auto.conf`,
    [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${dataDir}'`,
      ...(cert ? [`ssl = on`, `ssl_cert_file = 'server.crt'`, `ssl_key_file = 'server.key'`] : [
        `ssl = off`,
      ]),
      `password_encryption = 'scram-sha-256'`,
      `max_connections = 200`,
      `fsync = off`,
      `synchronous_commit = off`,
      `full_page_writes = off`,
      `shared_buffers = '128MB'`,
      `log_min_messages = 'warning'`,
      "",
    ].join("\n"),
    { append: true },
  );
  await run(...asPostgres(`${PG_BIN}/pg_ctl`, [
    "-D",
    dataDir,
    "-l",
    `${dataDir}/server.log`,
    "-w",
    "-t",
    "60",
    "start",
  ]));
  const cluster: PgCluster = {
    port,
    dataDir,
    async sql(query: string, database = "postgres"): Promise<string> {
      const result = await run(...asPostgres("psql", [
        "-h",
        dataDir,
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        database,
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        query,
      ]));
      return result.stdout.trim();
    },
    stopSync(): void {
      const [program, args] = asPostgres(`${PG_BIN}/pg_ctl`, [
        "-D",
        dataDir,
        "-m",
        "immediate",
        "-w",
        "stop",
      ]);
      new Deno.Command(program, { args, stdout: "null", stderr: "null" }).outputSync();
    },
  };
  try {
    await cluster.sql(`CREATE ROLE ${TEST_USER} LOGIN SUPERUSER PASSWORD '${TEST_PASSWORD}'`);
    await cluster.sql(`CREATE DATABASE ${TEST_DATABASE} OWNER ${TEST_USER}`);
  } catch (error) {
    // Nobody else knows of this server yet.
    cluster.stopSync();
    throw error;
  }
  return cluster;
}
