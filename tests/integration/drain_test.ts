/**
 * The drain after SIGTERM, with real psql sessions: an idle session is closed
 * at once with FATAL 57P01 while a session in a transaction carries on until
 * it commits, and a query still running at shutdown_timeout is cancelled on
 * the backend, not only cut off from its client.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type LogLine, type PgtlsProcess, startPgtls } from "../helpers/pgtls.ts";
import type { ClientTarget } from "../helpers/clients.ts";
import { Psql } from "../helpers/interactive_psql.ts";
import { type PgCluster, TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "../helpers/pg.ts";
import { settle } from "../helpers/settle.ts";
import { endSession, startSession } from "../helpers/raw_session.ts";
import { connectTls, errorFields, type Message, readMessage, writeAll } from "../helpers/wire.ts";
import { concat, cstring, message, sync, u32 } from "../helpers/packets.ts";
import { BIND, CLOSE, EXECUTE, FLUSH, PARSE } from "../../src/protocol/codes.ts";

/** pgtls in front of the fixture's PostgreSQL with `shutdown_timeout`. */
async function proxyWithTimeout(shutdownTimeout: string) {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startPgtls(dir, {
    shutdown_timeout: shutdownTimeout,
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
      },
      backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
    }],
  });
  const target: ClientTarget = { port: pgtls.port, caFile: certs.proxyCa };
  return { pgtls, target, pg };
}

/** Backend connections of psql sessions named `name`, with their state. */
function backendStates(pg: PgCluster, name: string): Promise<string> {
  return pg.sql(
    `SELECT coalesce(string_agg(state, ','), '') FROM pg_stat_activity WHERE application_name = '${name}'`,
  );
}

const closedLines = (pgtls: PgtlsProcess): LogLine[] =>
  pgtls.logs.filter((l) => l.msg === "session closed");

Deno.test("after SIGTERM an idle session is closed at once with FATAL 57P01, while one in a transaction works on until it commits", async () => {
  // Sessions are never cut in this test: shutdown_timeout is far beyond it.
  const { pgtls, target, pg } = await proxyWithTimeout("10m");
  await pg.sql("DROP TABLE IF EXISTS drained_rows", TEST_DATABASE);
  await pg.sql(
    "CREATE TABLE drained_rows (n int); GRANT ALL ON drained_rows TO pgtls_app",
    TEST_DATABASE,
  );
  const idle = new Psql(target, "drain_idle");
  const busy = new Psql(target, "drain_busy");
  try {
    assertEquals(await idle.run("SELECT 'ready';"), "ready\n");
    await busy.run("BEGIN; INSERT INTO drained_rows VALUES (1);");
    assertEquals(await backendStates(pg, "drain_busy"), "idle in transaction");
    assertEquals(await backendStates(pg, "drain_idle"), "idle");

    pgtls.kill("SIGTERM");
    const drained = await pgtls.waitForLog((l) =>
      l.msg === "session closed" && l.reason === "drained"
    );
    // The idle session went first, by construction: the other is in a
    // transaction that only this test ends, and nothing is cut for ten minutes.
    assertEquals(closedLines(pgtls).length, 1, JSON.stringify(closedLines(pgtls)));
    const idleGone = await settle(() => backendStates(pg, "drain_idle"), (s) => s === "", 10_000);
    assertEquals(idleGone, "", "the idle session's backend is gone");
    assertEquals(await backendStates(pg, "drain_busy"), "idle in transaction");

    // The transaction carries on through the drain, and commits.
    assertEquals(
      await busy.run("INSERT INTO drained_rows VALUES (2); SELECT count(*) FROM drained_rows;"),
      "2\n",
    );
    await busy.run("COMMIT;");
    assertEquals(
      await pg.sql("SELECT count(*) FROM drained_rows", TEST_DATABASE),
      "2",
      "both rows committed",
    );

    // The idle psql learns why its connection went: PostgreSQL's own SQLSTATE for a shutdown.
    const told = await idle.finish("SELECT 1;");
    assert(told.code !== 0, `psql fails on its dead connection, got ${told.code}`);
    assertMatch(
      told.stderr,
      /FATAL: +57P01: terminating connection because pgtls is shutting down/,
    );

    // Once committed, the second session is idle too, and goes: pgtls exits long before the timeout.
    assertEquals((await pgtls.status).code, 0);
    assertEquals(closedLines(pgtls).map((l) => l.reason), ["drained", "drained"]);
    assertEquals(drained.level, "info");
    assert(
      !pgtls.logs.some((l) => l.msg === "closing sessions still open after shutdown_timeout"),
      "no session was cut",
    );
  } finally {
    await idle.kill();
    await busy.kill();
    await pgtls.stop();
    await pg.sql("DROP TABLE IF EXISTS drained_rows", TEST_DATABASE);
  }
});

Deno.test("after SIGTERM a session whose extended-protocol INSERT awaits its Sync is not closed as idle, and the INSERT commits", async () => {
  const { pgtls, target, pg } = await proxyWithTimeout("10m");
  await pg.sql("DROP TABLE IF EXISTS unsynced_rows", TEST_DATABASE);
  await pg.sql(
    "CREATE TABLE unsynced_rows (n int); GRANT ALL ON unsynced_rows TO pgtls_app",
    TEST_DATABASE,
  );
  const pipelined = await connectTls(target.port, target.caFile!);
  const idle = await connectTls(target.port, target.caFile!);
  try {
    await startSession(pipelined, TEST_USER, TEST_PASSWORD, TEST_DATABASE);
    await startSession(idle, TEST_USER, TEST_PASSWORD, TEST_DATABASE);
    // As psycopg's pipeline mode sends it: Parse, Bind, Execute, Flush; the Sync comes later.
    await writeAll(
      pipelined,
      concat(
        message(PARSE, "\0INSERT INTO unsynced_rows VALUES (1)\0\0\0"),
        message(BIND, "\0\0\0\0\0\0\0\0"),
        message(EXECUTE, "\0\0\0\0\0"),
        message(FLUSH),
      ),
    );
    const answered = [];
    for (let m; (m = await readMessage(pipelined)) !== null && m.type !== "C";) {
      answered.push(m.type);
    }
    assertEquals(answered, ["1", "2"], "ParseComplete, BindComplete, then CommandComplete");

    pgtls.kill("SIGTERM");
    // Every session's drain starts in one go: once the idle one is closed, the other was weighed too.
    await pgtls.waitForLog((l) => l.msg === "session closed" && l.reason === "drained");
    assertEquals(closedLines(pgtls).length, 1, JSON.stringify(closedLines(pgtls)));

    await writeAll(pipelined, sync());
    const ready = await readMessage(pipelined);
    assertEquals(ready?.type, "Z", "the Sync is answered");
    const fatal = await readMessage(pipelined);
    assertEquals(fatal?.type, "E");
    assertEquals(errorFields(fatal!.body)["C"], "57P01", "then the session goes, idle at last");
    assertEquals(await pg.sql("SELECT count(*) FROM unsynced_rows", TEST_DATABASE), "1");
    assertEquals((await pgtls.status).code, 0);
  } finally {
    pipelined.close();
    try {
      idle.close();
    } catch {
      // Already closed by the drain.
    }
    await pgtls.stop();
    await pg.sql("DROP TABLE IF EXISTS unsynced_rows", TEST_DATABASE);
  }
});

Deno.test("a query still running at shutdown_timeout is cancelled on the backend, not only cut from its client", async () => {
  const { pgtls, target, pg } = await proxyWithTimeout("2s");
  // No client_connection_check_interval: PostgreSQL would notice the closed
  // connection only when pg_sleep(60) is over, so only a cancel stops it sooner.
  const sleeper = new Psql(target, "drain_sleeper");
  const running = () =>
    pg.sql(
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'drain_sleeper' AND state = 'active'",
    );
  try {
    const answer = sleeper.run("SELECT pg_sleep(60);").catch((error) => String(error));
    assertEquals(await settle(running, (n) => n === "1", 15_000), "1", "pg_sleep runs");
    pgtls.kill("SIGTERM");
    assertEquals((await pgtls.status).code, 0);
    // Well within the 60 s of pg_sleep.
    assertEquals(await settle(running, (n) => n === "0", 20_000), "0", "the query is gone");
    assert(
      pgtls.logs.some((l) => l.msg === "cancelled the query of a session cut at shutdown"),
      "pgtls says it cancelled the query",
    );
    await answer;
    const told = await sleeper.finish();
    assertMatch(
      told.stderr,
      /FATAL: +57P01: terminating connection because pgtls is shutting down/,
    );
    assertEquals(closedLines(pgtls).map((l) => l.reason), ["aborted"]);
  } finally {
    await sleeper.kill();
    await pgtls.stop();
    await pg.sql(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'drain_sleeper'",
    );
  }
});

/** Messages read until one of `type` (inclusive); null when the connection ended first. */
async function readUntil(conn: Deno.Conn, type: string): Promise<Message[] | null> {
  const got: Message[] = [];
  for (;;) {
    const message = await readMessage(conn);
    if (message === null) return null;
    got.push(message);
    if (message.type === type) return got;
  }
}

Deno.test("after SIGTERM a cursor read with Execute and Flush, before its Sync, is left to finish, not closed as idle", async () => {
  const { pgtls, target } = await proxyWithTimeout("10m");
  const conn = await connectTls(target.port, target.caFile!);
  // Execute for one row at a time, as pg-cursor and pg-query-stream read: no Sync until the end.
  const executeOneRow = () => message(EXECUTE, cstring(""), u32(1));
  try {
    await startSession(conn, TEST_USER, TEST_PASSWORD, TEST_DATABASE);
    const parse = message(PARSE, "\0SELECT generate_series(1, 3)\0\0\0");
    const bind = message(BIND, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0));
    await writeAll(conn, concat(parse, bind, executeOneRow(), message(FLUSH)));
    const first = await readUntil(conn, "s");
    assert(first !== null, "the first row comes");
    assertEquals(first.filter((m) => m.type === "D").length, 1);

    pgtls.kill("SIGTERM");
    await pgtls.waitForLog((l) => l.msg === "shutting down: no new connections");
    // The drain has looked at every session by now; this one must still be open.
    await writeAll(conn, concat(executeOneRow(), message(FLUSH)));
    const second = await readUntil(conn, "s");
    assert(second !== null, "the cursor's session was closed mid-read");
    assertEquals(second.map((m) => m.type), ["D", "s"]);
    assertEquals(closedLines(pgtls), [], "no session closed yet");

    // The Sync ends the implicit transaction; its ReadyForQuery I is the session's last word.
    await writeAll(
      conn,
      concat(message(CLOSE, "P\0"), sync()),
    );
    const end = await readUntil(conn, "Z");
    assert(end !== null);
    const fatal = await readMessage(conn);
    assertEquals(fatal?.type, "E", "then FATAL 57P01");
    assertEquals((await pgtls.status).code, 0);
    assertEquals(closedLines(pgtls).map((l) => l.reason), ["drained"]);
  } finally {
    await endSession(conn).catch(() => {});
    await pgtls.stop();
  }
});
