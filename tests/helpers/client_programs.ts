/**
 * Running the client programs of tests/clients/ (psycopg, pgjdbc,
 * node-postgres, postgres.js) against pgtls and checking what they report:
 * a query, a transaction and a COPY round trip, each printed as one JSON line.
 *
 * @module
 */

import { assertEquals } from "./assert.ts";
import { TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "./pg.ts";
import type { ClientTarget } from "./clients.ts";

const root = new URL("../../", import.meta.url).pathname;
/** Where the client programs are. */
export const CLIENTS_DIR = `${root}tests/clients`;
/** Debian's python3-psycopg2 and python3-psycopg install for the system Python. */
export const PYTHON = Deno.env.get("PGTLS_PYTHON") ?? "/usr/bin/python3";
/** Debian's libpostgresql-jdbc-java. */
export const JDBC_JAR = Deno.env.get("PGTLS_JDBC_JAR") ?? "/usr/share/java/postgresql.jar";

/** Rows every client copies in and out; the programs in tests/clients/ make the same ones. */
export const COPY_ROWS = 1000;

/** The rows COPY sends, as the client programs build them. */
export function copyData(): string {
  let data = "";
  for (let i = 1; i <= COPY_ROWS; i++) data += `${i}\tpayload ${i} é€ ${"x".repeat(i % 200)}\n`;
  return data;
}

/** The JSON line a client program prints. */
export interface ClientResult {
  readonly answer: number;
  readonly backend_ssl: boolean;
  readonly client_tls?: boolean;
  readonly tx_rows_inside: number;
  readonly tx_rows_after_rollback: number;
  readonly tx_rows_after_commit: number;
  readonly copy_in_rows: number;
  readonly copy_out_rows: number;
  readonly copy_out_matches: boolean;
  readonly copy_bytes: number;
  readonly table_rows: number;
  readonly [key: string]: unknown;
}

/** How long one client program may run before it is killed and the test fails. */
const CLIENT_TIMEOUT_MS = 90_000;

/**
 * Runs a client program against `target` as the test user (killed after
 * {@link CLIENT_TIMEOUT_MS}), with `env` added, and parses its last line.
 */
export async function runClientProgram(
  command: string,
  args: readonly string[],
  target: ClientTarget,
  env: Record<string, string> = {},
): Promise<ClientResult> {
  const child = new Deno.Command(command, {
    args: [...args],
    env: {
      PGHOST: "localhost",
      PGPORT: String(target.port),
      PGUSER: TEST_USER,
      PGPASSWORD: TEST_PASSWORD,
      PGDATABASE: TEST_DATABASE,
      PGSSLROOTCERT: target.caFile!,
      PGCONNECT_TIMEOUT: "10",
      ...env,
    },
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, CLIENT_TIMEOUT_MS);
  const output = await child.output().finally(() => clearTimeout(timer));
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  const described = `${command} ${args.join(" ")}`;
  if (timedOut) {
    throw new Error(`${described} hung for ${CLIENT_TIMEOUT_MS} ms\n${stdout}\n${stderr}`);
  }
  if (output.code !== 0) {
    throw new Error(`${described} exited ${output.code}\n${stdout}\n${stderr}`);
  }
  const last = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last) as ClientResult;
  } catch {
    throw new Error(`${described} printed no JSON line:\n${stdout}\n${stderr}`);
  }
}

/** What every client must report: the query, the transaction, the COPY round trip, and the backend leg's TLS. */
export function assertRoundTrip(result: ClientResult, backendSsl: boolean): void {
  const data = copyData();
  assertEquals(result.answer, 42, "SELECT 41 + 1");
  assertEquals(result.backend_ssl, backendSsl, "pg_stat_ssl.ssl of the backend leg");
  if (result.client_tls !== undefined) {
    assertEquals(result.client_tls, true, "the client reports TLS");
  }
  assertEquals(
    [result.tx_rows_inside, result.tx_rows_after_rollback, result.tx_rows_after_commit],
    [1, 0, 1],
    "a row inside the transaction, gone after ROLLBACK, kept after COMMIT",
  );
  assertEquals(result.copy_in_rows, COPY_ROWS, "rows COPY FROM STDIN loaded");
  assertEquals(result.table_rows, COPY_ROWS, "rows in the table after COPY");
  assertEquals(result.copy_out_rows, COPY_ROWS, "rows COPY TO STDOUT returned");
  assertEquals(result.copy_bytes, new TextEncoder().encode(data).length, "COPY TO STDOUT bytes");
  assertEquals(result.copy_out_matches, true, "COPY TO STDOUT returns what COPY FROM sent");
}
