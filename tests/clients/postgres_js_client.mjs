/**
 * postgres.js (postgres) through pgtls: a query, a transaction and a COPY
 * round trip (COPY through its .writable() and .readable() streams). Runs
 * under Node.js and Deno.
 *
 * Usage: node tests/clients/postgres_js_client.mjs NAME
 * Settings come from the environment: PGHOST, PGPORT, PGUSER, PGPASSWORD,
 * PGDATABASE and PGSSLROOTCERT (the CA that verifies pgtls). Prints one JSON
 * line of results; exits 1 with a message on stderr when something fails.
 *
 * postgres.js only implements SCRAM-SHA-256, never SCRAM-SHA-256-PLUS: there
 * is no channel binding to turn off.
 */

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import postgres from "postgres";

const ROWS = 1000;

/** The rows COPY sends: tab-separated id and a payload with non-ASCII text. */
function copyLines() {
  return Array.from(
    { length: ROWS },
    (_, i) => `${i + 1}\tpayload ${i + 1} é€ ${"x".repeat((i + 1) % 200)}\n`,
  );
}

function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}

/** Thrown inside sql.begin() to roll the transaction back. */
class Rollback extends Error {}

async function main(name) {
  const table = `clients_${name}`;
  const sql = postgres({
    host: env("PGHOST", "localhost"),
    port: Number(env("PGPORT")),
    user: env("PGUSER"),
    password: env("PGPASSWORD"),
    database: env("PGDATABASE"),
    // Full verification: an object is handed to tls.connect (rejectUnauthorized defaults to true).
    ssl: { ca: readFileSync(env("PGSSLROOTCERT")), servername: env("PGHOST", "localhost") },
    max: 1,
    connect_timeout: 10,
    // DROP TABLE IF EXISTS sends a NOTICE, which postgres.js would print to stdout.
    onnotice: () => {},
  });
  const result = {
    client: "postgres.js",
    runtime: typeof globalThis.Deno === "undefined" ? "node" : "deno",
  };
  try {
    [{ answer: result.answer }] = await sql`SELECT 41 + 1 AS answer`;
    [{ ssl: result.backend_ssl }] =
      await sql`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;

    const mainTable = sql(table);
    const copy = sql(`${table}_copy`);
    await sql`DROP TABLE IF EXISTS ${mainTable}, ${copy}`;
    await sql`CREATE TABLE ${mainTable} (id int PRIMARY KEY, note text)`;
    await sql`CREATE TABLE ${copy} (id int PRIMARY KEY, payload text)`;

    const count = async (tx, id) =>
      (await tx`SELECT count(*)::int AS n FROM ${mainTable} WHERE id = ${id}`)[0].n;
    try {
      await sql.begin(async (tx) => {
        await tx`INSERT INTO ${mainTable} VALUES (1, 'rolled back')`;
        result.tx_rows_inside = await count(tx, 1);
        throw new Rollback("roll back");
      });
    } catch (error) {
      if (!(error instanceof Rollback)) throw error;
    }
    result.tx_rows_after_rollback = await count(sql, 1);
    await sql.begin((tx) => tx`INSERT INTO ${mainTable} VALUES (2, 'committed')`);
    result.tx_rows_after_commit = await count(sql, 2);

    const lines = copyLines();
    const data = lines.join("");
    const chunks = [];
    for (let i = 0; i < lines.length; i += 100) chunks.push(lines.slice(i, i + 100).join(""));
    const writable = await sql`COPY ${copy} (id, payload) FROM STDIN`.writable();
    await pipeline(Readable.from(chunks), writable);
    [{ n: result.copy_in_rows }] = await sql`SELECT count(*)::int AS n FROM ${copy}`;
    const readable = await sql`COPY (SELECT id, payload FROM ${copy} ORDER BY id) TO STDOUT`
      .readable();
    const received = [];
    for await (const chunk of readable) received.push(chunk);
    const back = Buffer.concat(received).toString("utf8");
    result.copy_out_rows = back.split("\n").length - 1;
    result.copy_out_matches = back === data;
    result.copy_bytes = Buffer.byteLength(back);
    result.table_rows = result.copy_in_rows;
  } finally {
    await sql.end({ timeout: 5 });
  }
  console.log(JSON.stringify(result));
}

try {
  await main(process.argv[2] ?? "postgres_js");
} catch (error) {
  console.error(`postgres.js client failed: ${error?.stack ?? error}`);
  process.exit(1);
}
