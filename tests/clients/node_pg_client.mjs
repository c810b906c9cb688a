/**
 * node-postgres (pg) through pgtls: a query, a transaction and a COPY round
 * trip (COPY through pg-copy-streams). Runs under Node.js and Deno.
 *
 * Usage: node tests/clients/node_pg_client.mjs NAME
 * Settings come from the environment: PGHOST, PGPORT, PGUSER, PGPASSWORD,
 * PGDATABASE and PGSSLROOTCERT (the CA that verifies pgtls); PGTLS_CHANNEL_BINDING=on
 * turns on SCRAM-SHA-256-PLUS. Prints one JSON line of results; exits 1 with a
 * message on stderr when something fails.
 */

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import copyStreams from "pg-copy-streams";

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

async function main(name) {
  const table = `clients_${name}`;
  const client = new pg.Client({
    host: env("PGHOST", "localhost"),
    port: Number(env("PGPORT")),
    user: env("PGUSER"),
    password: env("PGPASSWORD"),
    database: env("PGDATABASE"),
    // Full verification: rejectUnauthorized defaults to true, the name checked is servername.
    ssl: { ca: readFileSync(env("PGSSLROOTCERT")), servername: env("PGHOST", "localhost") },
    // Off by default (and here): SCRAM channel binding cannot span pgtls's two TLS sessions,
    // unless pgtls authenticates itself (auth): then the tests set PGTLS_CHANNEL_BINDING=on.
    enableChannelBinding: process.env.PGTLS_CHANNEL_BINDING === "on",
    connectionTimeoutMillis: 10_000,
  });
  await client.connect();
  const result = {
    client: "node-postgres",
    runtime: typeof globalThis.Deno === "undefined" ? "node" : "deno",
    client_tls: client.connection.stream.encrypted === true,
  };
  try {
    const scalar = async (text, values) =>
      (await client.query({ text, values, rowMode: "array" })).rows[0][0];
    result.answer = await scalar("SELECT 41 + 1");
    result.backend_ssl = await scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");

    await client.query(`DROP TABLE IF EXISTS ${table}, ${table}_copy`);
    await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    await client.query(`CREATE TABLE ${table}_copy (id int PRIMARY KEY, payload text)`);

    const count = `SELECT count(*)::int FROM ${table} WHERE id = $1`;
    await client.query("BEGIN");
    await client.query(`INSERT INTO ${table} VALUES (1, 'rolled back')`);
    result.tx_rows_inside = await scalar(count, [1]);
    await client.query("ROLLBACK");
    result.tx_rows_after_rollback = await scalar(count, [1]);
    await client.query("BEGIN");
    await client.query(`INSERT INTO ${table} VALUES (2, 'committed')`);
    await client.query("COMMIT");
    result.tx_rows_after_commit = await scalar(count, [2]);

    const lines = copyLines();
    const data = lines.join("");
    const ingest = client.query(copyStreams.from(`COPY ${table}_copy (id, payload) FROM STDIN`));
    // One chunk per 100 rows: the rows travel in several CopyData messages.
    const chunks = [];
    for (let i = 0; i < lines.length; i += 100) chunks.push(lines.slice(i, i + 100).join(""));
    await pipeline(Readable.from(chunks), ingest);
    result.copy_in_rows = ingest.rowCount;
    // A query between the two COPYs works around a Deno 2.9 node:net bug: a socket paused
    // (outside the 'data' handler's microtasks) and then read through 'readable', as
    // pg-copy-streams' COPY TO does right after COPY FROM's 'finish', never reads again.
    result.table_rows = await scalar(`SELECT count(*)::int FROM ${table}_copy`);
    const out = client.query(
      copyStreams.to(`COPY (SELECT id, payload FROM ${table}_copy ORDER BY id) TO STDOUT`),
    );
    const received = [];
    for await (const chunk of out) received.push(chunk);
    const back = Buffer.concat(received).toString("utf8");
    result.copy_out_rows = back.split("\n").length - 1;
    result.copy_out_matches = back === data;
    result.copy_bytes = Buffer.byteLength(back);
  } finally {
    await client.end();
  }
  console.log(JSON.stringify(result));
}

try {
  await main(process.argv[2] ?? "node_pg");
} catch (error) {
  console.error(`node-postgres client failed: ${error?.stack ?? error}`);
  process.exit(1);
}
