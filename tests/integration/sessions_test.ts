/**
 * `GET /sessions` on the metrics endpoint: real psql sessions listed with
 * what pgtls knows of them and where each stands (idle, in a transaction,
 * running a query, in a COPY), and with workers, every worker's in one answer.
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { startPgtls } from "../helpers/pgtls.ts";
import type { ClientTarget } from "../helpers/clients.ts";
import { TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";
import { Psql } from "../helpers/interactive_psql.ts";
import { freePort } from "../helpers/run.ts";
import { settle } from "../helpers/settle.ts";
import type { SessionsReport } from "../../src/proxy/live_sessions.ts";

/** pgtls with its metrics endpoint, in front of the fixture's PostgreSQL. */
async function withEndpoint(settings: Record<string, unknown> = {}) {
  const { dir, certs, pg } = await fixture();
  const metricsPort = freePort();
  const pgtls = await startPgtls(dir, {
    ...settings,
    metrics: { listen: `127.0.0.1:${metricsPort}` },
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
      },
      backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
    }],
  });
  await pgtls.waitForLog((l) => l.msg === "metrics listening");
  const target: ClientTarget = { port: pgtls.port, caFile: certs.proxyCa };
  const sessions = async (): Promise<SessionsReport> => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/sessions`);
    assertEquals(response.status, 200);
    assertEquals(response.headers.get("content-type"), "application/json");
    return await response.json();
  };
  return { pgtls, target, pg, sessions };
}

/** The states of a report's sessions, sorted. */
const statesOf = (report: SessionsReport) => report.sessions.map((s) => s.state).sort().join(",");

Deno.test("GET /sessions lists each open session with its client, TLS, user, backend, bytes and state", async () => {
  const { pgtls, target, pg, sessions } = await withEndpoint();
  await pg.sql("DROP TABLE IF EXISTS listed_rows", TEST_DATABASE);
  await pg.sql(
    "CREATE TABLE listed_rows (n int); GRANT ALL ON listed_rows TO pgtls_app",
    TEST_DATABASE,
  );
  // Before any psql starts: each connects as soon as it is made.
  assertEquals(await sessions(), {
    total: 0,
    states: { startup: 0, idle: 0, transaction: 0, active: 0, copy: 0 },
    truncated: false,
    sessions: [],
  });
  const psqls = ["idle", "transaction", "active", "copy"].map((name) =>
    new Psql(target, `listed_${name}`)
  );
  const [idle, transaction, active, copy] = psqls as [Psql, Psql, Psql, Psql];
  try {
    await idle.run("SELECT 1;");
    // The transaction holds a lock the active session's query waits for, until it commits.
    await transaction.run(
      "BEGIN; SELECT pg_advisory_xact_lock(42); INSERT INTO listed_rows VALUES (1);",
    );
    const waiting = active.run("SELECT pg_advisory_xact_lock(42);").catch(String);
    await copy.run("SELECT 1;");
    await copy.write("COPY listed_rows FROM STDIN;\n5\n");
    const running = () =>
      pg.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('listed_active', 'listed_copy') AND state = 'active'",
      );
    assertEquals(
      await settle(running, (n) => n === "2", 15_000),
      "2",
      "the lock wait and COPY run",
    );
    const report = await settle(
      sessions,
      (r) => statesOf(r) === "active,copy,idle,transaction",
      10_000,
    );
    assertEquals(statesOf(report), "active,copy,idle,transaction", JSON.stringify(report));
    assertEquals(report.total, 4);
    assertEquals(report.truncated, false);
    assertEquals(report.states, { startup: 0, idle: 1, transaction: 1, active: 1, copy: 1 });
    assertEquals(new Set(report.sessions.map((s) => s.id)).size, 4, "each session its own id");
    for (const session of report.sessions) {
      assertEquals(session.proxy, "main");
      assertEquals(session.sni, "localhost");
      assertEquals(session.user, TEST_USER);
      assertEquals(session.database, TEST_DATABASE);
      assertEquals(session.backend, `127.0.0.1:${pg.port}`);
      assertEquals(session.tls_version, "TLSv1.3");
      assert(session.tls_cipher?.startsWith("TLS_"), `a TLS 1.3 suite: ${session.tls_cipher}`);
      assert(/^127\.0\.0\.1:\d+$/.test(session.client), session.client);
      assert(session.bytes_in > 0 && session.bytes_out > 0, JSON.stringify(session));
      assert(session.age_seconds >= 0, JSON.stringify(session));
      assertEquals(session.worker, undefined, "one process: no worker field");
    }
    // Oldest first: the sessions were opened in this order.
    const ages = report.sessions.map((s) => s.age_seconds);
    assertEquals(ages, [...ages].sort((a, b) => b - a));

    // The COPY ends, the transaction commits and so lets the waiting query through: all idle.
    await copy.write("\\.\n");
    await transaction.run("COMMIT;");
    await waiting;
    const after = await settle(sessions, (r) => statesOf(r) === "idle,idle,idle,idle", 10_000);
    assertEquals(statesOf(after), "idle,idle,idle,idle", JSON.stringify(after));
    assertEquals(await pg.sql("SELECT sum(n) FROM listed_rows", TEST_DATABASE), "6");
  } finally {
    for (const p of psqls) await p.kill();
    assertEquals(await pgtls.stop(), 0);
    await pg.sql("DROP TABLE IF EXISTS listed_rows", TEST_DATABASE);
  }
});

Deno.test("with workers: 2, GET /sessions gathers every worker's sessions, each marked with its worker", async () => {
  const { pgtls, target, sessions } = await withEndpoint({ workers: 2 });
  const psqls: Psql[] = [];
  try {
    await pgtls.waitForLog((l) => l.msg === "pgtls started");
    // The kernel picks each connection's worker: open sessions until both have some.
    let report = await sessions();
    while (new Set(report.sessions.map((s) => s.worker)).size < 2 && psqls.length < 40) {
      const psql = new Psql(target, `worker_listed_${psqls.length}`);
      psqls.push(psql);
      await psql.run("SELECT 1;");
      report = await sessions();
    }
    assertEquals(report.total, psqls.length, JSON.stringify(report));
    assertEquals(report.sessions.length, psqls.length);
    assertEquals(report.states.idle, psqls.length);
    assertEquals(
      [...new Set(report.sessions.map((s) => s.worker))].sort(),
      [1, 2],
      "sessions of both workers, each with its worker",
    );
    for (const session of report.sessions) assertEquals(session.state, "idle");
  } finally {
    for (const p of psqls) await p.kill();
    assertEquals(await pgtls.stop(), 0);
  }
});
