/**
 * Real clients through pgtls: TLS to the proxy with full certificate
 * verification, TLS from the proxy to the database, and in each client a
 * query, a transaction and a COPY round trip. psql and pgbench are driven
 * from here; the library clients are small programs in tests/clients/ that
 * print one JSON line of results.
 *
 * Nothing is skipped when a client is missing: .ci/run installs them all.
 *
 * @module
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { NORMAL_ENDS, type PgtlsProcess, proxyConfig, startPgtls } from "../helpers/pgtls.ts";
import { type ClientTarget, connString, libpqEnv } from "../helpers/clients.ts";
import { TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";
import { run } from "../helpers/run.ts";
import {
  assertRoundTrip,
  CLIENTS_DIR,
  copyData,
  JDBC_JAR,
  PYTHON,
  runClientProgram,
} from "../helpers/client_programs.ts";

const clients = CLIENTS_DIR;
const deno = `${new URL("../../", import.meta.url).pathname}node_modules/.bin/deno`;

/**
 * Starts pgtls in front of the TLS test cluster (backend verified against the
 * database CA), runs `body` against it, stops pgtls and checks that every
 * session ended normally, for the test user and database, with the SNI
 * `sni` (default localhost; null: none sent), and that there were at least
 * `sessions` of them.
 */
async function throughPgtls(
  body: (target: ClientTarget, dir: string) => Promise<void>,
  { sessions = 1, sni = "localhost" }: { sessions?: number; sni?: string | null } = {},
): Promise<PgtlsProcess> {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startPgtls(dir, {
    proxies: [{ name: "clients", ...proxyConfig(certs, pg.port) }],
  });
  const target: ClientTarget = {
    port: pgtls.port,
    caFile: certs.proxyCa,
    // SCRAM channel binding cannot span two TLS sessions with different certificates.
    extra: "channel_binding=disable",
  };
  try {
    await body(target, dir);
  } finally {
    assertEquals(await pgtls.stop(), 0, "pgtls exits 0 on SIGTERM");
  }
  const closed = pgtls.logs.filter((l) => l.msg === "session closed");
  assert(closed.length >= sessions, `${closed.length} sessions logged, expected ${sessions}+`);
  const abnormal = closed.filter((l) => !NORMAL_ENDS.includes(String(l.reason)));
  assertEquals(abnormal, [], "every session ends with a normal close");
  for (const line of closed) {
    assertEquals([line.user, line.database], [TEST_USER, TEST_DATABASE]);
    if (sni === null) {
      assert(!line.sni, `no SNI expected, pgtls logged ${JSON.stringify(line.sni)}`);
    } else assertEquals(line.sni, sni, "the SNI pgtls saw");
  }
  return pgtls;
}

Deno.test("psql through pgtls: a query, a transaction and \\copy in and out", async () => {
  await throughPgtls(async (target, dir) => {
    const data = copyData();
    const inFile = `${dir}/clients-psql-in.txt`;
    const outFile = `${dir}/clients-psql-out.txt`;
    await Deno.writeTextFile(inFile, data);
    await Deno.remove(outFile).catch(() => {});
    const t = "clients_psql";
    const script = [
      `SELECT 'answer=' || (41 + 1);`,
      `SELECT 'backend_ssl=' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();`,
      `DROP TABLE IF EXISTS ${t}, ${t}_copy;`,
      `CREATE TABLE ${t} (id int PRIMARY KEY, note text);`,
      `CREATE TABLE ${t}_copy (id int PRIMARY KEY, payload text);`,
      `BEGIN;`,
      `INSERT INTO ${t} VALUES (1, 'rolled back');`,
      `SELECT 'tx_rows_inside=' || count(*) FROM ${t} WHERE id = 1;`,
      `ROLLBACK;`,
      `SELECT 'tx_rows_after_rollback=' || count(*) FROM ${t} WHERE id = 1;`,
      `BEGIN;`,
      `INSERT INTO ${t} VALUES (2, 'committed');`,
      `COMMIT;`,
      `SELECT 'tx_rows_after_commit=' || count(*) FROM ${t} WHERE id = 2;`,
      `\\copy ${t}_copy (id, payload) FROM '${inFile}'`,
      `\\echo copy_in_rows=:ROW_COUNT`,
      `\\copy (SELECT id, payload FROM ${t}_copy ORDER BY id) TO '${outFile}'`,
      `\\echo copy_out_rows=:ROW_COUNT`,
      `SELECT 'table_rows=' || count(*) FROM ${t}_copy;`,
      "",
    ].join("\n");
    const result = await run(
      "psql",
      [connString(target), "-XAtq", "-v", "ON_ERROR_STOP=1", "-f", "-"],
      { env: libpqEnv(), stdin: script },
    );
    const values = Object.fromEntries(
      result.stdout.trim().split("\n").map((line) => line.split("=", 2) as [string, string]),
    );
    const back = await Deno.readTextFile(outFile);
    const number = (key: string) => Number(values[key] ?? NaN);
    assertRoundTrip({
      answer: number("answer"),
      backend_ssl: values.backend_ssl === "true",
      tx_rows_inside: number("tx_rows_inside"),
      tx_rows_after_rollback: number("tx_rows_after_rollback"),
      tx_rows_after_commit: number("tx_rows_after_commit"),
      copy_in_rows: number("copy_in_rows"),
      copy_out_rows: number("copy_out_rows"),
      copy_out_matches: back === data,
      copy_bytes: new TextEncoder().encode(back).length,
      table_rows: number("table_rows"),
    }, true);
  });
});

Deno.test("pgbench through pgtls: a custom transaction, none failed, every row over TLS", async () => {
  const clientsCount = 4;
  const perClient = 50;
  await throughPgtls(async (target, dir) => {
    const t = "clients_pgbench";
    await run("psql", [
      connString(target),
      "-XAtq",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      `DROP TABLE IF EXISTS ${t}; CREATE TABLE ${t} (client int, answer int, ssl bool)`,
    ], { env: libpqEnv() });
    const script = `${dir}/clients-pgbench.sql`;
    await Deno.writeTextFile(
      script,
      [
        "BEGIN;",
        `INSERT INTO ${t} SELECT :client_id, 41 + 1, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();`,
        "SELECT count(*) FROM pg_stat_ssl;",
        "END;",
        "",
      ].join("\n"),
    );
    const bench = await run("pgbench", [
      "-n",
      "-c",
      String(clientsCount),
      "-j",
      "2",
      "-t",
      String(perClient),
      "-f",
      script,
      connString(target),
    ], { env: libpqEnv() });
    const processed = /number of transactions actually processed: (\d+)/.exec(bench.stdout);
    assert(processed !== null, bench.stdout);
    assertEquals(Number(processed[1]), clientsCount * perClient, bench.stdout);
    const failed = /number of failed transactions: (\d+)/.exec(bench.stdout);
    assertEquals(failed?.[1], "0", bench.stdout);
    const check = await run("psql", [
      connString(target),
      "-XAtq",
      "-c",
      `SELECT count(*), count(DISTINCT client), bool_and(answer = 42), bool_and(ssl) FROM ${t}`,
    ], { env: libpqEnv() });
    // Each committed transaction inserted one row: pgbench's count is what the table holds.
    assertEquals(check.stdout.trim(), `${processed[1]}|${clientsCount}|t|t`);
  }, { sessions: clientsCount + 2 });
});

Deno.test("psycopg2 through pgtls with verify-full: query, transaction, copy_expert", async () => {
  await throughPgtls(async (target) => {
    const result = await runClientProgram(
      PYTHON,
      [`${clients}/psycopg2_client.py`, "psycopg2"],
      target,
    );
    assertEquals(result.client, "psycopg2");
    assertEquals(result.client_tls, true);
    assertRoundTrip(result, true);
  });
});

Deno.test("psycopg 3 through pgtls with verify-full: query, transaction, cursor.copy", async () => {
  await throughPgtls(async (target) => {
    const result = await runClientProgram(
      PYTHON,
      [`${clients}/psycopg3_client.py`, "psycopg3"],
      target,
    );
    assertEquals(result.client, "psycopg3");
    assertEquals(result.client_tls, true);
    assertRoundTrip(result, true);
  });
});

Deno.test("psycopg 3 reads 256 results of 100 B to 2 MB through pgtls, sync and async, and none stalls", async () => {
  // psycopg waits on the socket itself: a TLS record larger than libpq's 8 KiB of room
  // left the end of a result decrypted inside OpenSSL and the query hung (issue 20).
  // The client's watchdog turns such a stall into exit 3 with SSL_pending in the message.
  await throughPgtls(async (target) => {
    const result = await runClientProgram(PYTHON, [`${clients}/psycopg3_results.py`], target);
    assertEquals(result.client, "psycopg3");
    assertEquals(result.queries, 256);
  }, { sessions: 2 });
});

Deno.test("pgjdbc through pgtls with verify-full: query, transaction, CopyManager", async () => {
  await throughPgtls(async (target) => {
    const result = await runClientProgram(
      "java",
      ["-cp", JDBC_JAR, `${clients}/JdbcClient.java`, "pgjdbc"],
      target,
    );
    assertEquals(result.client, "pgjdbc");
    assertRoundTrip(result, true);
    // Java sends SNI only for host names with a dot, so "localhost" goes without; pgjdbc's
    // verify-full still checks the certificate's name.
  }, { sni: null });
});

for (const runtime of ["node", "deno"] as const) {
  const command = (program: string): [string, string[]] =>
    runtime === "node"
      ? ["node", [`${clients}/${program}`]]
      : [deno, ["run", "--allow-all", `${clients}/${program}`]];

  Deno.test(`node-postgres under ${runtime} through pgtls: query, transaction, pg-copy-streams`, async () => {
    await throughPgtls(async (target) => {
      const [program, args] = command("node_pg_client.mjs");
      const result = await runClientProgram(program, [...args, `node_pg_${runtime}`], target);
      assertEquals([result.client, result.runtime], ["node-postgres", runtime]);
      assertEquals(result.client_tls, true);
      assertRoundTrip(result, true);
    });
  });

  Deno.test(`postgres.js under ${runtime} through pgtls: query, transaction, COPY streams`, async () => {
    await throughPgtls(async (target) => {
      const [program, args] = command("postgres_js_client.mjs");
      const result = await runClientProgram(program, [...args, `postgres_js_${runtime}`], target);
      assertEquals([result.client, result.runtime], ["postgres.js", runtime]);
      assertRoundTrip(result, true);
    });
  });
}
