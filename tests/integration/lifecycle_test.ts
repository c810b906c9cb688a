import { assert, assertEquals, AssertionError, assertMatch, format } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type LogLine, type PgtlsProcess, startPgtls } from "../helpers/pgtls.ts";
import { type ClientTarget, connString, libpqEnv, psql } from "../helpers/clients.ts";
import { type PgCluster, TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";
import { startMockBackend } from "../helpers/mock_backend.ts";
import type { RunResult } from "../helpers/run.ts";
import { SIGNAL_ECHO_ENV, SIGNAL_ECHO_MS } from "../../src/serve/stop_signals.ts";
import {
  connectTls,
  errorFields,
  openIdleSession,
  parseMessages,
  readAll,
  readExactly,
  writeAll,
} from "../helpers/wire.ts";
import {
  authentication,
  backendKeyData,
  readyForQuery,
  sslRequest,
  startupMessage,
} from "../helpers/packets.ts";
import { ACCEPT_BYTE, AUTH_OK, PARAMETER_STATUS } from "../../src/protocol/codes.ts";
import { settle } from "../helpers/settle.ts";
import { concatBytes } from "../../src/protocol/bytes.ts";

/**
 * Sent by every psql these tests start: PostgreSQL (14+) then notices within
 * 100 ms that the connection to it is gone while a query runs, so a backend
 * that pgtls closed disappears from pg_stat_activity at once, and one that
 * pgtls leaked stays.
 */
const PGOPTIONS = "-c client_connection_check_interval=100";

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** pgtls with one proxy in front of the test cluster. */
async function proxyToPg(
  options: {
    listener?: Record<string, unknown>;
    config?: Record<string, unknown>;
    backendTls?: boolean;
    env?: Record<string, string>;
  } = {},
) {
  const { dir, certs, pg } = await fixture();
  const backend = options.backendTls
    ? {
      address: `127.0.0.1:${pg.port}`,
      tls_enabled: true,
      tls_verify: "full",
      ca_file: certs.dbCa,
      server_name: "db.pgtls.test",
    }
    : { address: `127.0.0.1:${pg.port}`, tls_enabled: false };
  const pgtls = await startPgtls(dir, {
    ...options.config,
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        ...options.listener,
      },
      backend,
    }],
  }, options.env);
  const target: ClientTarget = {
    port: pgtls.port,
    caFile: certs.proxyCa,
    // SCRAM channel binding cannot span two TLS sessions with different certificates.
    extra: options.backendTls ? "channel_binding=disable" : undefined,
  };
  return { pgtls, target, pg, certs };
}

/** pgtls with `shutdown_timeout: 1s` in front of `backend` (a mock's address and settings). */
async function cutAfterOneSecond(backend: Record<string, unknown>): Promise<PgtlsProcess> {
  const { dir, certs } = await fixture();
  return await startPgtls(dir, {
    shutdown_timeout: "1s",
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
      },
      backend,
    }],
  });
}

/** A psql started in the background. */
interface RunningPsql {
  readonly child: Deno.ChildProcess;
  readonly result: Promise<RunResult>;
  /** Whether it has exited. */
  exited: boolean;
}

/** Starts psql with `-c query` without waiting; `application_name` names it in pg_stat_activity. */
function spawnPsql(target: ClientTarget, query: string, applicationName: string): RunningPsql {
  const child = new Deno.Command("psql", {
    args: [
      `${connString(target)} application_name=${applicationName}`,
      "-XAtq",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      query,
    ],
    env: { ...libpqEnv(), PGOPTIONS },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const running: RunningPsql = {
    child,
    exited: false,
    result: child.output().then((output) => {
      running.exited = true;
      return {
        code: output.code,
        stdout: new TextDecoder().decode(output.stdout),
        stderr: new TextDecoder().decode(output.stderr),
      };
    }),
  };
  return running;
}

/** Kills a background psql if it still runs, and waits for it. */
async function reap(running: RunningPsql | undefined): Promise<void> {
  if (running === undefined) return;
  if (!running.exited) {
    try {
      running.child.kill("SIGKILL");
    } catch { /* it exited meanwhile */ }
  }
  await running.result;
}

/** Waits until the psql named `applicationName` sits in pg_sleep on the backend. */
async function waitForSleep(pg: PgCluster, applicationName: string): Promise<void> {
  const query = `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${applicationName}'
    AND state = 'active' AND wait_event = 'PgSleep'`;
  const count = await settle(() => pg.sql(query), (n) => n === "1", 15_000);
  assertEquals(count, "1", `psql ${applicationName} is running pg_sleep on the backend`);
}

/** Backend connections of the test role: those that came through pgtls. */
function appBackends(pg: PgCluster): Promise<number> {
  return pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${TEST_USER}'`).then(
    Number,
  );
}

/** Ends every backend of the test role, so a test leaves no sleeping query behind. */
async function terminateAppBackends(pg: PgCluster): Promise<void> {
  await pg.sql(
    `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '${TEST_USER}'`,
  );
}

/**
 * Tries a new connection to `port`: `served` is false when pgtls does not
 * serve it (the TCP connect is refused or reset, or the socket closes
 * without an answer to SSLRequest).
 */
async function tryConnect(port: number): Promise<{ served: boolean; detail: string }> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      return { served: false, detail: "connect refused" };
    }
    // The connection reached the accept queue just as pgtls closed its
    // listener: the kernel resets it, which is also "not served".
    if (error instanceof Deno.errors.ConnectionReset) {
      return { served: false, detail: "connect reset" };
    }
    throw error;
  }
  try {
    await writeAll(conn, sslRequest()).catch(() => {});
    const answer = await readAll(conn);
    return { served: answer.length > 0, detail: `accepted, then answered ${format(answer)}` };
  } finally {
    conn.close();
  }
}

function sessionsClosed(pgtls: PgtlsProcess): LogLine[] {
  return pgtls.logs.filter((l) => l.msg === "session closed");
}

// ---------------------------------------------------------------------------
// Shutdown

Deno.test("after SIGTERM pgtls refuses new connections, lets a running query finish, and exits 0", async () => {
  const { pgtls, target, pg } = await proxyToPg();
  let sleeper: RunningPsql | undefined;
  try {
    sleeper = spawnPsql(target, "SELECT 'slept' FROM pg_sleep(2)", "lifecycle_drain");
    await waitForSleep(pg, "lifecycle_drain");
    pgtls.kill("SIGTERM");
    const shutting = await pgtls.waitForLog((l) => l.msg === "shutting down: no new connections");
    assertEquals(shutting.sessions, 1, "pgtls counts the open session when the signal comes");

    const attempt = await tryConnect(pgtls.port);
    assert(!attempt.served, `a new connection during the drain is not served: ${attempt.detail}`);
    const late = await psql(target, "SELECT 1", { check: false });
    assert(late.code !== 0, `psql during the drain fails, got ${late.code}: ${late.stdout}`);

    const result = await sleeper.result;
    assertEquals(result.code, 0, `the running psql completes: ${result.stderr}`);
    assertEquals(result.stdout.trim(), "slept");
    const status = await pgtls.status;
    assertEquals(status.code, 0, "pgtls exits 0 once the session ended");
    assert(pgtls.logs.some((l) => l.msg === "stopped"), "pgtls logs that it stopped");
    // Idle once its query was answered, the session is closed at once (drain_test.ts).
    assertEquals(sessionsClosed(pgtls).map((l) => l.reason), ["drained"]);
    assert(
      !pgtls.logs.some((l) => l.msg === "closing sessions still open after shutdown_timeout"),
      "no session is cut within shutdown_timeout",
    );
  } finally {
    await reap(sleeper);
    await pgtls.stop();
  }
});

Deno.test({
  name: "after SIGTERM pgtls closes sessions still open after shutdown_timeout and exits 0",
  fn: async () => {
    const { pgtls, target, pg } = await proxyToPg({ config: { shutdown_timeout: "1s" } });
    let sleeper: RunningPsql | undefined;
    try {
      sleeper = spawnPsql(target, "SELECT 'slept' FROM pg_sleep(30)", "lifecycle_timeout");
      await waitForSleep(pg, "lifecycle_timeout");
      pgtls.kill("SIGTERM");
      const status = await pgtls.status;
      assertEquals(status.code, 0, "pgtls exits 0 after closing the session");
      const result = await sleeper.result;
      assert(result.code !== 0, `psql fails when its session is closed, got ${result.code}`);
      assert(result.stdout.trim() !== "slept", "the query did not complete");
      // Between two of the backend's messages, so told why, as PostgreSQL's
      // own shutdown tells its clients (before: "SSL SYSCALL error: EOF detected").
      assertMatch(result.stderr, /FATAL: +terminating connection because pgtls is shutting down/);
      const cut = pgtls.logs.find((l) =>
        l.msg === "closing sessions still open after shutdown_timeout"
      );
      assert(cut !== undefined, "pgtls logs that it closes the sessions left");
      assertEquals(cut.sessions, 1);
      assertEquals(sessionsClosed(pgtls).length, 1, "the closed session is logged");
      // Bun's native adapter said client_closed (its close callback runs at once), counted ok.
      assertEquals(sessionsClosed(pgtls)[0]!.reason, "aborted");
      const backends = await settle(() => appBackends(pg), (n) => n === 0, 10_000);
      assertEquals(backends, 0, "the backend connection of the closed session is gone");
    } finally {
      await reap(sleeper);
      await pgtls.stop();
      await terminateAppBackends(pg);
    }
  },
});

Deno.test({
  name:
    "a session still opening its backend at shutdown_timeout is cut then, not at connect_timeout",
  fn: async () => {
    const { certs } = await fixture();
    let reached!: () => void;
    const backendReached = new Promise<void>((resolve) => reached = resolve);
    // Answers the SSLRequest and then never starts its TLS handshake.
    const backend = await startMockBackend(async (conn) => {
      await conn.read(8);
      await conn.write(Uint8Array.of(ACCEPT_BYTE));
      reached();
      // Reads the ClientHello and whatever follows, answering nothing, until pgtls hangs up.
      await conn.readUntilEnd();
    });
    const pgtls = await cutAfterOneSecond({
      address: `127.0.0.1:${backend.port}`,
      tls_enabled: true,
      ca_file: certs.dbCa,
      connect_timeout: "1h",
    });
    let client: Deno.TlsConn | undefined;
    let guard: ReturnType<typeof setTimeout> | undefined;
    try {
      client = await connectTls(pgtls.port, certs.proxyCa);
      await writeAll(client, startupMessage({ user: TEST_USER, database: TEST_DATABASE }));
      await backendReached;
      pgtls.kill("SIGTERM");
      // Only a guard against hanging the suite: connect_timeout alone would take an hour.
      const hung = new Promise<null>((resolve) => guard = setTimeout(() => resolve(null), 30_000));
      const status = await Promise.race([pgtls.status, hung]);
      assert(status !== null, "pgtls exits although the backend never answers");
      assertEquals(status.code, 0);
      const closed = sessionsClosed(pgtls);
      assertEquals(closed.map((l) => l.reason), ["shutdown"]);
      // The client has heard nothing from the backend yet, so it is told why.
      const messages = parseMessages(await readAll(client));
      assertEquals(messages.map((m) => m.type), ["E"]);
      assertEquals(errorFields(messages[0]!.body).C, "57P01");
    } finally {
      clearTimeout(guard);
      client?.close();
      await pgtls.stop();
      await backend.close();
    }
  },
});

Deno.test({
  name:
    "a session cut at shutdown_timeout gets FATAL 57P01 between two of the backend's messages, and nothing added inside one",
  fn: async () => {
    const { certs } = await fixture();
    const AUTHENTICATION_OK = authentication(AUTH_OK);
    // BackendKeyData and ReadyForQuery "T": logged in, in a transaction (so
    // not closed as idle by the drain), then the first 3 bytes of a
    // ParameterStatus. pgtls passes on only whole messages until ReadyForQuery.
    const LOGGED_IN = concatBytes(
      backendKeyData(12345, Uint8Array.of(1, 2, 3, 4)),
      readyForQuery("T"),
    );
    const PARTIAL = concatBytes(LOGGED_IN, Uint8Array.of(PARAMETER_STATUS, 0, 0));
    // Answers the startup packet with AuthenticationOk, then, for user
    // "partial", the rest of a login and a message cut short, and waits.
    const backend = await startMockBackend(async (conn) => {
      const length = new DataView((await conn.read(4)).buffer).getUint32(0);
      const startup = new TextDecoder().decode(await conn.read(length - 4));
      await conn.write(
        startup.includes("\0partial\0")
          ? concatBytes(AUTHENTICATION_OK, PARTIAL)
          : AUTHENTICATION_OK,
      );
      await conn.readUntilEnd();
    });
    const pgtls = await cutAfterOneSecond({
      address: `127.0.0.1:${backend.port}`,
      tls_enabled: false,
    });
    const clients: Deno.TlsConn[] = [];
    try {
      const open = async (user: string, expected: number) => {
        const client = await connectTls(pgtls.port, certs.proxyCa);
        clients.push(client);
        await writeAll(client, startupMessage({ user, database: TEST_DATABASE }));
        const first = await readExactly(client, expected);
        return { client, first };
      };
      const whole = await open("whole", AUTHENTICATION_OK.length);
      const partial = await open("partial", AUTHENTICATION_OK.length + PARTIAL.length);
      // On TLS, but no startup packet yet: closed without a word, logged as pgtls's doing.
      clients.push(await connectTls(pgtls.port, certs.proxyCa));
      pgtls.kill("SIGTERM");
      const [afterWhole, afterPartial] = await Promise.all([
        readAll(whole.client),
        readAll(partial.client),
      ]);
      const messages = parseMessages(afterWhole);
      assertEquals(messages.map((m) => m.type), ["E"], "one ErrorResponse after AuthenticationOk");
      const fields = errorFields(messages[0]!.body);
      assertEquals([fields.S, fields.C], ["FATAL", "57P01"]);
      assertEquals(fields.M, "terminating connection because pgtls is shutting down");
      assertEquals(afterPartial.length, 0, "inside a message the client gets only its end");
      assertEquals((await pgtls.status).code, 0);
      const ends = sessionsClosed(pgtls).map((l) => `${l.reason}: ${l.error}`).sort();
      assertEquals(ends.length, 3, ends.join("\n"));
      assertMatch(ends[0]!, /^aborted: /);
      assertMatch(ends[1]!, /^aborted: /);
      assertEquals(ends[2], "shutdown: pgtls is shutting down");
    } finally {
      for (const client of clients) {
        try {
          client.close();
        } catch {
          // closed by pgtls
        }
      }
      await pgtls.stop();
      await backend.close();
    }
  },
});

for (const second of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`a second signal (${second}) while draining makes pgtls exit at once with a failure code`, async () => {
    const { pgtls, target, pg } = await proxyToPg();
    let sleeper: RunningPsql | undefined;
    try {
      sleeper = spawnPsql(target, "SELECT 'slept' FROM pg_sleep(30)", "lifecycle_second");
      await waitForSleep(pg, "lifecycle_second");
      pgtls.kill("SIGTERM");
      await pgtls.waitForLog((l) => l.msg === "shutting down: no new connections");
      // Sooner, it would be taken for the first signal relayed again (stop_signals.ts).
      await new Promise((resolve) => setTimeout(resolve, 2 * SIGNAL_ECHO_MS));
      pgtls.kill(second);
      const status = await pgtls.status;
      const psqlStillRunning = !sleeper.exited;
      assert(status.code !== 0, `pgtls exits with a failure code, got ${status.code}`);
      assert(
        pgtls.logs.some((l) => l.msg === "second signal: exiting now" && l.signal === second),
        "pgtls logs the second signal",
      );
      // One log line per session, cut or not.
      assert(
        pgtls.logs.some((l) => l.msg === "session closed" && l.reason === "aborted"),
        `the cut session logged its end:\n${pgtls.logs.map((l) => JSON.stringify(l)).join("\n")}`,
      );
      // Had pgtls waited for the session, pg_sleep(30) would have ended and psql exited 0:
      // psql was still running when pgtls exited, or had already failed with its session.
      const result = await sleeper.result;
      assert(
        result.code !== 0,
        `pgtls exited before the query ended, so psql fails (it was ${
          psqlStillRunning ? "still running" : "already gone"
        } when pgtls exited), got ${result.code}`,
      );
    } finally {
      await reap(sleeper);
      await pgtls.stop();
      await terminateAppBackends(pg);
    }
  });
}

Deno.test("one Ctrl-C delivered twice at once (by the terminal and by npm) drains as one signal", async () => {
  // A window far longer than the test: however late a loaded machine handles
  // the copy below, it is still taken for the first signal.
  const { pgtls, target, pg, certs } = await proxyToPg({ env: { [SIGNAL_ECHO_ENV]: "600000" } });
  let sleeper: RunningPsql | undefined;
  let held: Deno.TlsConn | undefined;
  try {
    sleeper = spawnPsql(target, "SELECT 'slept' FROM pg_sleep(1)", "lifecycle_echo");
    await waitForSleep(pg, "lifecycle_echo");
    // Keeps pgtls draining until it has handled the copy, however long the query takes.
    held = await openIdleSession(pgtls.port, certs.proxyCa);
    // Two signals sent back to back reach a process as one; a relay's copy
    // comes once the first was handled, as it does here after its log line.
    pgtls.kill("SIGINT");
    await pgtls.waitForLog((l) => l.msg === "shutting down: no new connections");
    pgtls.kill("SIGINT");
    await pgtls.waitForLog((l) => l.msg === "stop signal repeated at once, taken as the same one");
    held.close();
    held = undefined;
    const status = await pgtls.status;
    assertEquals(status.code, 0, "pgtls drained and exited 0");
    assert(
      !pgtls.logs.some((l) => String(l.msg).startsWith("second signal")),
      "no second signal was seen",
    );
    const result = await sleeper.result;
    assertEquals(result.code, 0, `the running query finished: ${result.stderr}`);
  } finally {
    held?.close();
    await reap(sleeper);
    await pgtls.stop();
    await terminateAppBackends(pg);
  }
});

// ---------------------------------------------------------------------------
// max_connections

/**
 * Connects without TLS, sends SSLRequest and reads the messages pgtls sends
 * until it closes. (pgtls refuses in plaintext at once; should it answer 'S'
 * and refuse inside TLS, this follows it there.)
 */
async function refusedMessages(port: number, caFile: string) {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  let conn: Deno.Conn = tcp;
  try {
    await writeAll(tcp, sslRequest()).catch(() => {});
    const first = await readExactly(tcp, 1);
    if (first[0] === ACCEPT_BYTE) {
      conn = await Deno.startTls(tcp, {
        hostname: "localhost",
        caCerts: [await Deno.readTextFile(caFile)],
      });
      await writeAll(conn, startupMessage({ user: TEST_USER, database: TEST_DATABASE }));
      return parseMessages(await readAll(conn));
    }
    const rest = await readAll(tcp);
    const bytes = new Uint8Array(first.length + rest.length);
    bytes.set(first);
    bytes.set(rest, first.length);
    return parseMessages(bytes);
  } finally {
    conn.close();
  }
}

Deno.test("at listener.max_connections a further client gets FATAL 53300 and is closed, and is served again once sessions end", async () => {
  const { pgtls, target, certs } = await proxyToPg({ listener: { max_connections: 2 } });
  const held: Deno.TlsConn[] = [];
  try {
    held.push(await openIdleSession(pgtls.port, certs.proxyCa));
    held.push(await openIdleSession(pgtls.port, certs.proxyCa));

    const messages = await refusedMessages(pgtls.port, certs.proxyCa);
    const error = messages.find((m) => m.type === "E");
    assert(
      error !== undefined,
      `an ErrorResponse, got ${messages.map((m) => m.type).join(",") || "nothing"}`,
    );
    const fields = errorFields(error.body);
    assertEquals(fields.S, "FATAL");
    assertEquals(fields.C, "53300");
    assertMatch(fields.M!, /too many/);

    const refusedPsql = await psql(target, "SELECT 1", { check: false });
    assert(refusedPsql.code !== 0, "psql is refused as well while two sessions are open");
    assertMatch(refusedPsql.stderr, /too many clients/);

    for (const conn of held.splice(0)) conn.close();
    // The slots free up once pgtls has seen both clients go.
    const again = await settle(
      () => psql(target, "SELECT 1", { check: false }),
      (r) => r.code === 0,
      10_000,
    );
    assertEquals(again.code, 0, `psql is served again: ${again.stderr}`);
    assertEquals(again.stdout.trim(), "1");
  } finally {
    for (const conn of held) conn.close();
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("a client being refused for max_connections when SIGTERM comes still gets its 53300 before pgtls exits", async () => {
  const { pgtls, certs } = await proxyToPg({ listener: { max_connections: 1 } });
  const held = await openIdleSession(pgtls.port, certs.proxyCa);
  let heldOpen = true;
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
  let refused: Deno.Conn = tcp;
  try {
    // 'S' shows pgtls has accepted this connection, as a refusal: the one slot is taken.
    await writeAll(tcp, sslRequest());
    assertEquals(String.fromCharCode((await readExactly(tcp, 1))[0] ?? 0), "S");
    pgtls.kill("SIGTERM");
    await pgtls.waitForLog((l) => l.msg === "shutting down: no new connections");
    held.close();
    heldOpen = false;
    // The admitted session is over: before, pgtls exited here and cut the refusal short.
    await pgtls.waitForLog((l) =>
      l.msg === "session closed" && l.reason !== "too_many_connections"
    );

    refused = await Deno.startTls(tcp, {
      hostname: "localhost",
      caCerts: [await Deno.readTextFile(certs.proxyCa)],
    });
    await writeAll(refused, startupMessage({ user: TEST_USER, database: TEST_DATABASE }));
    const messages = parseMessages(await readAll(refused));
    const error = messages.find((m) => m.type === "E");
    assert(error !== undefined, `an ErrorResponse, got ${messages.map((m) => m.type).join(",")}`);
    assertEquals(errorFields(error.body).C, "53300");
    assertEquals((await pgtls.status).code, 0);
    assert(
      sessionsClosed(pgtls).some((l) => l.reason === "too_many_connections"),
      "the refused session is logged before pgtls stops",
    );
  } finally {
    if (heldOpen) held.close();
    refused.close();
    await pgtls.stop();
  }
});

// ---------------------------------------------------------------------------
// File descriptors and leaks

function openFds(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

function fdTargets(pid: number): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(`${entry.name} -> ${Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`)}`);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/** Connects over TCP, runs `body`, and always closes; network errors inside count as a disconnect. */
async function rawClient(port: number, body: (conn: Deno.TcpConn) => Promise<void>) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await body(conn);
  } catch (error) {
    if (error instanceof AssertionError) throw error;
  } finally {
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}

/** As {@link rawClient}, after SSLRequest and pgtls's 'S'. */
function afterS(port: number, body: (conn: Deno.TcpConn) => Promise<void>) {
  return rawClient(port, async (conn) => {
    await writeAll(conn, sslRequest());
    const answer = await readExactly(conn, 1);
    assertEquals([...answer], [ACCEPT_BYTE], "pgtls accepts SSLRequest");
    await body(conn);
  });
}

/** Connects with TLS through SSLRequest, runs `body`, and always closes. */
async function tlsClient(
  port: number,
  caFile: string,
  body: (conn: Deno.TlsConn) => Promise<void>,
) {
  let conn: Deno.TlsConn;
  try {
    conn = await connectTls(port, caFile);
  } catch (error) {
    // Under load, pgtls's handshake_timeout may end the handshake first: still a disconnect.
    if (
      error instanceof Deno.errors.UnexpectedEof || error instanceof Deno.errors.ConnectionReset
    ) {
      return;
    }
    throw error;
  }
  try {
    await body(conn);
  } catch (error) {
    if (error instanceof AssertionError) throw error;
  } finally {
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}

const STARTUP = startupMessage({ user: TEST_USER, database: TEST_DATABASE });

/** Ways a client leaves pgtls, by name; `stuck` ones wait for pgtls to close them. */
const DISCONNECTS: readonly {
  name: string;
  stuck?: true;
  run: (port: number, caFile: string) => Promise<void>;
}[] = [
  { name: "close right after TCP connect", run: (port) => rawClient(port, async () => {}) },
  {
    name: "close after half an SSLRequest",
    run: (port) => rawClient(port, (conn) => writeAll(conn, sslRequest().subarray(0, 4))),
  },
  {
    name: "close after SSLRequest before reading 'S'",
    run: (port) => rawClient(port, (conn) => writeAll(conn, sslRequest())),
  },
  {
    name: "close after reading 'S' without starting TLS",
    run: (port) => afterS(port, async () => {}),
  },
  {
    name: "send a garbage ClientHello after 'S'",
    run: (port) =>
      afterS(port, async (conn) => {
        const garbage = new Uint8Array(37);
        crypto.getRandomValues(garbage);
        garbage.set([0x16, 0x03, 0x01, 0x00, 0x20]);
        await writeAll(conn, garbage);
        await readAll(conn);
      }),
  },
  {
    name: "close during the TLS handshake",
    run: (port, caFile) =>
      rawClient(port, async (tcp) => {
        await writeAll(tcp, sslRequest());
        await readExactly(tcp, 1);
        const tls = await Deno.startTls(tcp, {
          hostname: "localhost",
          caCerts: [await Deno.readTextFile(caFile)],
        });
        const handshake = tls.handshake().catch(() => {});
        await delay(Math.floor(Math.random() * 3));
        tls.close();
        await handshake;
      }),
  },
  {
    name: "close after TLS before the StartupMessage",
    run: (port, ca) => tlsClient(port, ca, async () => {}),
  },
  {
    name: "close right after sending the StartupMessage",
    run: (port, ca) => tlsClient(port, ca, (conn) => writeAll(conn, STARTUP)),
  },
  {
    name: "close after the backend's authentication request",
    run: (port, ca) =>
      tlsClient(port, ca, async (conn) => {
        await writeAll(conn, STARTUP);
        await readExactly(conn, 1);
      }),
  },
  {
    name: "send a plaintext StartupMessage and read the refusal",
    run: (port) =>
      rawClient(port, async (conn) => {
        await writeAll(conn, STARTUP);
        await readAll(conn);
      }),
  },
  {
    name: "send a malformed first packet and read the error",
    run: (port) =>
      rawClient(port, async (conn) => {
        await writeAll(conn, Uint8Array.of(0, 0, 0, 4, 1, 2, 3, 4));
        await readAll(conn);
      }),
  },
  {
    name: "stall after half an SSLRequest",
    stuck: true,
    run: (port) =>
      rawClient(port, async (conn) => {
        await writeAll(conn, sslRequest().subarray(0, 4));
        await readAll(conn);
      }),
  },
  {
    name: "stall after 'S'",
    stuck: true,
    run: (port) => afterS(port, async (conn) => void await readAll(conn)),
  },
  {
    name: "stall after TLS",
    stuck: true,
    run: (port, ca) =>
      tlsClient(port, ca, async (conn) => {
        const buffer = new Uint8Array(1024);
        while (await conn.read(buffer) !== null) { /* until pgtls closes */ }
      }),
  },
];

/**
 * psql killed with SIGKILL in the middle of a query; false when psql failed
 * before its query ran (under load, handshake_timeout may cut it short).
 */
async function killedMidQuery(target: ClientTarget, pg: PgCluster, n: number): Promise<boolean> {
  const name = `lifecycle_kill_${n}`;
  const running = spawnPsql(target, "SELECT pg_sleep(10)", name);
  try {
    const query = `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${name}'
      AND state = 'active' AND wait_event = 'PgSleep'`;
    const sleeping = await settle(
      () => pg.sql(query),
      (count) => count === "1" || running.exited,
      15_000,
    );
    if (sleeping !== "1" || running.exited) return false;
    running.child.kill("SIGKILL");
    return true;
  } finally {
    await reap(running);
  }
}

/** Runs `tasks` with at most `limit` at a time; returns what they threw. */
async function pool(tasks: (() => Promise<void>)[], limit: number): Promise<unknown[]> {
  const errors: unknown[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < tasks.length) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (error) {
        errors.push(error);
      }
    }
  }));
  return errors;
}

/** pgtls in front of the TLS backend, warmed up by one complete session, and its fd count then. */
async function warmedUpProxy() {
  const proxy = await proxyToPg({
    // Short, so that stalled clients end soon; long enough for a handshake under load.
    listener: { handshake_timeout: "2s" },
    config: { shutdown_timeout: "1s" },
    backendTls: true,
  });
  const { pgtls, target } = proxy;
  // Warm-up: one complete session on both TLS legs.
  assertEquals((await psql(target, "SELECT 1")).stdout.trim(), "1");
  await pgtls.waitForLog(() => sessionsClosed(pgtls).length >= 1);
  // Its sockets may close just after the log line; counted in the baseline, they would hide a leak.
  const open = await settle(
    () => pgtlsSockets(pgtls.pid, "connected"),
    (sockets) => sockets.length === 0,
    10_000,
  );
  assertEquals(open.map((s) => s.line), [], "pgtls has no socket left but its listener");
  return { ...proxy, baseline: openFds(pgtls.pid), baselineTargets: fdTargets(pgtls.pid) };
}

/**
 * Waits for `sessions` "session closed" lines, then checks that pgtls's fd
 * count is back to `baseline` (within 2) and that no backend connection of
 * the test role is left on the server.
 */
async function assertAllClosed(
  proxy: Awaited<ReturnType<typeof warmedUpProxy>>,
  sessions: number,
): Promise<LogLine[]> {
  const { pgtls, pg, baseline, baselineTargets } = proxy;
  await pgtls.waitForLog(() => sessionsClosed(pgtls).length >= sessions, 30_000).catch(() => {});
  const closed = sessionsClosed(pgtls);
  assertEquals(closed.length, sessions, "one 'session closed' line per connection");
  const fds = await settle(() => openFds(pgtls.pid), (n) => n <= baseline + 2, 5_000);
  assert(
    fds <= baseline + 2,
    `pgtls has ${fds} fds open, ${baseline} after the warm-up\nnow:\n${
      fdTargets(pgtls.pid).join("\n")
    }\nbaseline:\n${baselineTargets.join("\n")}`,
  );
  const backends = await settle(() => appBackends(pg), (n) => n === 0, 10_000);
  assertEquals(backends, 0, "no backend connection of pgtls is left on the server");
  return closed;
}

Deno.test("300 clients that disconnect at every stage leave pgtls with no extra file descriptor and no backend connection", async () => {
  const proxy = await warmedUpProxy();
  const { pgtls, target, pg, certs } = proxy;
  try {
    const CLIENTS = 300;
    const tasks: (() => Promise<void>)[] = [];
    let stuck = 0;
    let killedPsql = 0;
    for (let i = 0; i < CLIENTS; i++) {
      if (i % 30 === 29) {
        tasks.push(async () => {
          if (await killedMidQuery(target, pg, i)) killedPsql++;
        });
        continue;
      }
      const mode = DISCONNECTS[i % DISCONNECTS.length]!;
      if (mode.stuck) stuck++;
      tasks.push(async () => {
        try {
          await mode.run(pgtls.port, certs.proxyCa);
        } catch (error) {
          throw new Error(`client ${i} (${mode.name}): ${error}`);
        }
      });
    }
    const errors = await pool(tasks, 20);
    assertEquals(errors.map(String), [], "every client did what it meant to");
    assert(killedPsql > 0, "at least one psql was killed in the middle of its query");

    const closed = await assertAllClosed(proxy, 1 + CLIENTS);
    const timedOut = closed.filter((l) => l.reason === "handshake_timeout").length;
    const reasons: Record<string, number> = {};
    for (const l of closed) reasons[String(l.reason)] = (reasons[String(l.reason)] ?? 0) + 1;
    // Under load a client that meant to go on may be cut by handshake_timeout too.
    assert(
      timedOut >= stuck,
      `all ${stuck} stalled clients end by handshake_timeout: ${format(reasons)}`,
    );
    assertEquals(pgtls.logs.filter((l) => l.level === "error"), [], "no error logged");
    // Twenty sessions at once once made Node.js warn of an AbortSignal listener leak.
    assertEquals(pgtls.logs.filter((l) => l.level === "raw"), [], "no runtime warning on stderr");
  } finally {
    assertEquals(await pgtls.stop(), 0);
    await terminateAppBackends(pg);
  }
});

Deno.test({
  name:
    "clients that close right after their StartupMessage leave pgtls with no extra file descriptor and no backend connection",
  fn: async () => {
    const proxy = await warmedUpProxy();
    const { pgtls, pg, certs } = proxy;
    try {
      const CLIENTS = 20;
      const tasks = Array.from(
        { length: CLIENTS },
        () => () => tlsClient(pgtls.port, certs.proxyCa, (conn) => writeAll(conn, STARTUP)),
      );
      assertEquals((await pool(tasks, 10)).map(String), []);
      await assertAllClosed(proxy, 1 + CLIENTS);
    } finally {
      assertEquals(await pgtls.stop(), 0);
      await terminateAppBackends(pg);
    }
  },
});

// ---------------------------------------------------------------------------
// Socket options

/** pgtls's TCP sockets in `state` (an `ss` state filter) as `ss -tnoiep` shows them. */
async function pgtlsSockets(pid: number, state = "established") {
  const output = await new Deno.Command("ss", {
    args: ["-tnoiep", "state", state],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(output.success, new TextDecoder().decode(output.stderr));
  const lines = new TextDecoder().decode(output.stdout).split("\n");
  const sockets: { local: number; peer: number; fd: number; line: string }[] = [];
  for (const line of lines) {
    if (/^\s/.test(line) || !line.includes(`pid=${pid},`)) continue;
    // A filter of several states adds a State column before the addresses.
    const [local, peer] = line.trim().split(/\s+/).filter((field) => field.includes(":"));
    const fd = new RegExp(`pid=${pid},fd=(\\d+)`).exec(line)?.[1];
    sockets.push({
      local: Number(local!.slice(local!.lastIndexOf(":") + 1)),
      peer: Number(peer!.slice(peer!.lastIndexOf(":") + 1)),
      fd: Number(fd),
      line,
    });
  }
  return sockets;
}

/** The libc calls that read another process's socket options. */
const LIBC_SOCKET_CALLS = {
  pidfd_open: { parameters: ["i32", "u32"], result: "i32" },
  pidfd_getfd: { parameters: ["i32", "i32", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/**
 * Whether this host lets a process take a copy of another's file descriptor
 * with pidfd_getfd (Linux 5.6+, glibc 2.36+, not blocked by seccomp or Yama):
 * tried on a child, which is what pgtls is to the test.
 */
async function pidfdGetfdWorks(): Promise<boolean> {
  let libc;
  try {
    libc = Deno.dlopen("libc.so.6", LIBC_SOCKET_CALLS);
  } catch {
    return false;
  }
  const child = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
  try {
    const pidfd = libc.symbols.pidfd_open(child.pid, 0);
    if (pidfd < 0) return false;
    const dup = libc.symbols.pidfd_getfd(pidfd, 0, 0);
    libc.symbols.close(pidfd);
    if (dup < 0) return false;
    libc.symbols.close(dup);
    return true;
  } finally {
    libc.close();
    child.kill("SIGKILL");
    await child.status;
  }
}

/**
 * Reads integer socket options of another process's socket: pidfd_getfd
 * duplicates it here, getsockopt reads it. Null when that fails.
 */
function socketOptionsOf(pid: number, fd: number): Record<string, number> | null {
  const libc = Deno.dlopen("libc.so.6", LIBC_SOCKET_CALLS);
  try {
    const pidfd = libc.symbols.pidfd_open(pid, 0);
    if (pidfd < 0) return null;
    const dup = libc.symbols.pidfd_getfd(pidfd, fd, 0);
    libc.symbols.close(pidfd);
    if (dup < 0) return null;
    const read = (level: number, name: number) => {
      const value = new Int32Array(1);
      const length = new Uint32Array([4]);
      const rc = libc.symbols.getsockopt(dup, level, name, value, length);
      return rc === 0 ? value[0]! : -1;
    };
    const IPPROTO_TCP = 6, SOL_SOCKET = 1;
    const options = {
      TCP_NODELAY: read(IPPROTO_TCP, 1),
      SO_KEEPALIVE: read(SOL_SOCKET, 9),
      TCP_KEEPIDLE: read(IPPROTO_TCP, 4),
    };
    libc.symbols.close(dup);
    return options;
  } finally {
    libc.close();
  }
}

/**
 * Calls `check` on pgtls's socket to the client and on its socket to the
 * backend while a query holds the session open.
 */
async function checkSessionSockets(
  check: (pid: number, side: string, socket: { fd: number; line: string }) => void,
): Promise<void> {
  const { pgtls, target, pg } = await proxyToPg({ backendTls: true });
  let sleeper: RunningPsql | undefined;
  try {
    sleeper = spawnPsql(target, "SELECT 'slept' FROM pg_sleep(5)", "lifecycle_sockopt");
    await waitForSleep(pg, "lifecycle_sockopt");
    // Until the server acknowledges the query (delayed ACK), the socket shows
    // the retransmission timer instead: sample again until nothing is in flight.
    const sockets = await settle(
      () => pgtlsSockets(pgtls.pid),
      (list) => list.every((s) => !s.line.includes("timer:(on,")),
      2_000,
    );
    const toClient = sockets.filter((s) => s.local === pgtls.port);
    const toBackend = sockets.filter((s) => s.peer === pg.port);
    const all = sockets.map((s) => s.line).join("\n");
    assertEquals(toClient.length, 1, `one socket to the client:\n${all}`);
    assertEquals(toBackend.length, 1, `one socket to the backend:\n${all}`);
    check(pgtls.pid, "client", toClient[0]!);
    check(pgtls.pid, "backend", toBackend[0]!);
    assert(!sleeper.exited, "the session was open throughout");
  } finally {
    await reap(sleeper);
    assertEquals(await pgtls.stop(), 0);
  }
}

Deno.test("pgtls's sockets to the client and to the backend have TCP keepalive", () =>
  checkSessionSockets((_pid, side, socket) =>
    assertMatch(socket.line, /timer:\(keepalive,/, `keepalive timer on the ${side} socket`)
  ));

Deno.test({
  name:
    "pgtls's sockets to the client and to the backend have TCP_NODELAY and SO_KEEPALIVE (read with pidfd_getfd: ignored where the host does not allow it)",
  ignore: !(await pidfdGetfdWorks()),
  fn: () =>
    checkSessionSockets((pid, side, socket) => {
      const options = socketOptionsOf(pid, socket.fd);
      assert(options !== null, `pidfd_getfd works here, yet not on pgtls's ${side} socket`);
      assertEquals(options.TCP_NODELAY, 1, `TCP_NODELAY on the ${side} socket`);
      assertEquals(options.SO_KEEPALIVE, 1, `SO_KEEPALIVE on the ${side} socket`);
    }),
});
