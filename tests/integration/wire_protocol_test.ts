/**
 * The startup phase on the wire, byte by byte: GSSENCRequest, plaintext
 * StartupMessage, direct TLS and ALPN, injection before the TLS handshake,
 * malformed first packets, the handshake timeout and CancelRequest forwarding.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { startMockBackend } from "../helpers/mock_backend.ts";
import { type LogLine, NORMAL_ENDS, type PgtlsProcess, startPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";
import {
  connectTls,
  errorFields,
  type Message,
  parseMessages,
  readError,
  readExactly,
  readMessage,
  writeAll,
} from "../helpers/wire.ts";
import {
  authentication,
  cancelRequest,
  concat,
  gssencRequest,
  packet,
  sslRequest,
  startupMessage,
  terminate,
  u32,
} from "../helpers/packets.ts";
import { ACCEPT_BYTE, AUTH_OK, AUTH_SASL, DECLINE_BYTE } from "../../src/protocol/codes.ts";
import tls from "node:tls";
import { Duplex } from "node:stream";

const SSL_QUERY = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/** Starts pgtls with one proxy; `listener` and `backend` add to or override the defaults. */
async function startProxy(
  backend: Record<string, unknown>,
  listener: Record<string, unknown> = {},
): Promise<PgtlsProcess> {
  const { dir, certs } = await fixture();
  return await startPgtls(dir, {
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        ...listener,
      },
      backend,
    }],
  });
}

/** The test PostgreSQL cluster as a TLS backend, verified by name. */
async function realTlsBackend(): Promise<Record<string, unknown>> {
  const { certs, pg } = await fixture();
  return {
    address: `127.0.0.1:${pg.port}`,
    tls_enabled: true,
    ca_file: certs.dbCa,
    server_name: "db.pgtls.test",
  };
}

/** Runs `body` against a started pgtls and always stops it, expecting exit code 0. */
async function withProxy(
  pgtls: PgtlsProcess,
  body: (pgtls: PgtlsProcess) => Promise<void>,
): Promise<void> {
  try {
    await body(pgtls);
  } finally {
    const code = await pgtls.stop();
    const unexpected = pgtls.logs.filter((l) => l.level === "raw" || l.level === "error");
    assertEquals(
      code,
      0,
      `pgtls exits 0 on SIGTERM; unexpected output:\n${unexpected.map((l) => l.msg).join("\n")}`,
    );
  }
}

/** Asserts that pgtls still serves a TLS client all the way to PostgreSQL. */
async function assertStillServing(pgtls: PgtlsProcess): Promise<void> {
  const { certs } = await fixture();
  const conn = await connectTls(pgtls.port, certs.proxyCa);
  try {
    await writeAll(conn, TEST_STARTUP);
    assertReachedPostgres(await readMessage(conn));
  } finally {
    conn.close();
  }
}

/** The `session closed` log line with this reason. */
function sessionClosed(pgtls: PgtlsProcess, reason: string): Promise<LogLine> {
  return pgtls.waitForLog((l) => l.msg === "session closed" && l.reason === reason);
}

/** How a connection ended when read to its end. */
interface Ending {
  /** Everything received before the end. */
  readonly bytes: Uint8Array;
  /** True when the peer ended it (EOF or an error); false when the guard had to. */
  readonly closedByPeer: boolean;
}

/**
 * Reads until the peer closes the connection, treating any read error as the
 * peer's close. A guard closes it after `guardMs` so a test cannot hang; that
 * case reports `closedByPeer: false`, which every caller asserts against.
 */
async function readUntilClosed(conn: Deno.Conn, guardMs = 20_000): Promise<Ending> {
  let guarded = false;
  const guard = setTimeout(() => {
    guarded = true;
    conn.close();
  }, guardMs);
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  try {
    for (;;) {
      const got = await conn.read(buffer);
      if (got === null) break;
      chunks.push(buffer.slice(0, got));
    }
  } catch {
    // A reset, a TLS alert or an unclean TLS close all mean the peer ended it.
  } finally {
    clearTimeout(guard);
  }
  if (!guarded) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return { bytes, closedByPeer: !guarded };
}

/** Writes, ignoring a peer that has already closed. */
async function writeQuietly(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  try {
    await writeAll(conn, bytes);
  } catch {
    // The peer may close before the write; what it did is checked by reading.
  }
}

/** The body's leading int32, e.g. an Authentication message's code. */
function int32At(body: Uint8Array, offset = 0): number {
  return new DataView(body.buffer, body.byteOffset).getInt32(offset);
}

/** Asserts that `message` is PostgreSQL's AuthenticationSASL: the session reached PostgreSQL. */
function assertReachedPostgres(message: Message | null): void {
  assert(message !== null, "the connection closed before PostgreSQL answered");
  assertEquals(message!.type, "R", "PostgreSQL's first message is an Authentication request");
  assertEquals(int32At(message!.body), AUTH_SASL, "AuthenticationSASL (scram-sha-256)");
}

const TEST_STARTUP = startupMessage({ user: TEST_USER, database: TEST_DATABASE });

// --- GSSENCRequest ---------------------------------------------------------------------------

Deno.test("a GSSENCRequest is declined with one 'N' and the same connection then reaches PostgreSQL over TLS", async () => {
  const { certs } = await fixture();
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
    await writeAll(tcp, gssencRequest());
    assertEquals(
      await readExactly(tcp, 1),
      Uint8Array.of(DECLINE_BYTE),
      "GSSENCRequest answered 'N'",
    );
    // Were there more than one byte after 'N', the next byte read would not be 'S'.
    await writeAll(tcp, sslRequest());
    assertEquals(await readExactly(tcp, 1), Uint8Array.of(ACCEPT_BYTE), "SSLRequest answered 'S'");
    const tls = await Deno.startTls(tcp, {
      hostname: "localhost",
      caCerts: [await Deno.readTextFile(certs.proxyCa)],
    });
    try {
      await tls.handshake();
      await writeAll(tls, TEST_STARTUP);
      assertReachedPostgres(await readMessage(tls));
    } finally {
      tls.close();
    }
    const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
    assertEquals(closed.user, TEST_USER);
    assertEquals(closed.sni, "localhost");
    assert(typeof closed.tls === "string", `the session was on TLS: ${JSON.stringify(closed)}`);
  });
});

Deno.test("a GSSENCRequest followed by a plaintext StartupMessage is still refused for lack of TLS", async () => {
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
    await writeAll(tcp, gssencRequest());
    assertEquals(await readExactly(tcp, 1), Uint8Array.of(DECLINE_BYTE));
    await writeAll(tcp, TEST_STARTUP);
    const ending = await readUntilClosed(tcp);
    assert(ending.closedByPeer, "pgtls closes the connection");
    const messages = parseMessages(ending.bytes);
    assertEquals(messages.map((m) => m.type), ["E"]);
    assertEquals(errorFields(messages[0]!.body).C, "28000");
    await sessionClosed(pgtls, "plaintext_rejected");
  });
});

Deno.test("psql with gssencmode=prefer works through pgtls", async () => {
  const { certs } = await fixture();
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const result = await psql({
      port: pgtls.port,
      caFile: certs.proxyCa,
      extra: "gssencmode=prefer channel_binding=disable",
    }, SSL_QUERY);
    assertEquals(result.stdout.trim(), "t");
    const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
    assert(NORMAL_ENDS.includes(String(closed.reason)), `reason ${closed.reason}`);
  });
});

// --- plaintext StartupMessage ----------------------------------------------------------------

Deno.test("a plaintext StartupMessage is refused with FATAL 28000 saying TLS is required, then closed", async () => {
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
    await writeAll(tcp, TEST_STARTUP);
    const ending = await readUntilClosed(tcp);
    assert(ending.closedByPeer, "pgtls closes the connection after the error");
    const messages = parseMessages(ending.bytes);
    assertEquals(messages.map((m) => m.type), ["E"], "exactly one ErrorResponse, then close");
    const fields = errorFields(messages[0]!.body);
    assertEquals(fields.S, "FATAL");
    assertEquals(fields.C, "28000");
    assertMatch(fields.M!, /requires TLS/);
    const closed = await sessionClosed(pgtls, "plaintext_rejected");
    assertEquals(closed.backend, null, "no backend was chosen for a refused session");
  });
});

Deno.test("psql with sslmode=disable is told that pgtls requires TLS when plaintext is rejected", async () => {
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const result = await psql({ port: pgtls.port, sslmode: "disable" }, "SELECT 1", {
      check: false,
    });
    assertEquals(result.code, 2);
    assertMatch(result.stderr, /FATAL: +pgtls requires TLS/);
  });
});

Deno.test("with plaintext allow, psql with sslmode=disable reaches a plaintext backend without TLS", async () => {
  const { pg } = await fixture();
  const pgtls = await startProxy(
    { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
    { plaintext: "allow" },
  );
  await withProxy(pgtls, async () => {
    const target = { port: pgtls.port, sslmode: "disable" };
    assertEquals((await psql(target, "SELECT 1")).stdout.trim(), "1");
    assertEquals((await psql(target, SSL_QUERY)).stdout.trim(), "f");
    const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
    assert(NORMAL_ENDS.includes(String(closed.reason)), `reason ${closed.reason}`);
    assertEquals(closed.user, TEST_USER);
    assertEquals(closed.tls ?? null, null, "the client side was not TLS either");
  });
});

// --- direct TLS and ALPN ---------------------------------------------------------------------

/** What a direct-TLS client saw: a failed handshake, or the ALPN it got and the bytes after. */
type DirectTlsOutcome =
  | { readonly handshake: "failed" }
  | { readonly handshake: "ok"; readonly alpn: string | null; readonly ending: Ending };

/** Opens direct TLS to pgtls (ClientHello first), sends a StartupMessage, reads to the end. */
async function directTls(port: number, alpn: string[] | undefined): Promise<DirectTlsOutcome> {
  const { certs } = await fixture();
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [await Deno.readTextFile(certs.proxyCa)],
      alpnProtocols: alpn,
    });
  } catch {
    return { handshake: "failed" };
  }
  let negotiated: string | null;
  try {
    negotiated = (await conn.handshake()).alpnProtocol;
  } catch {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    return { handshake: "failed" };
  }
  await writeQuietly(conn, TEST_STARTUP);
  return { handshake: "ok", alpn: negotiated, ending: await readUntilClosed(conn) };
}

/** Direct TLS with ALPN postgresql and SNI localhost; returns the session's log line. */
async function directTlsToPostgres(pgtls: PgtlsProcess): Promise<LogLine> {
  const { certs } = await fixture();
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: pgtls.port,
    caCerts: [await Deno.readTextFile(certs.proxyCa)],
    alpnProtocols: ["postgresql"],
  });
  try {
    assertEquals((await conn.handshake()).alpnProtocol, "postgresql");
    await writeAll(conn, TEST_STARTUP);
    assertReachedPostgres(await readMessage(conn));
  } finally {
    conn.close();
  }
  return await pgtls.waitForLog((l) => l.msg === "session closed");
}

Deno.test("direct TLS with ALPN postgresql reaches PostgreSQL", async () => {
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const closed = await directTlsToPostgres(pgtls);
    assertEquals(closed.user, TEST_USER);
    assert(typeof closed.tls === "string", `the session was on TLS: ${JSON.stringify(closed)}`);
  });
});

Deno.test({
  name: "direct TLS records the client's SNI for the session, as the SSLRequest path does",
  fn: async () => {
    await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
      const closed = await directTlsToPostgres(pgtls);
      assertEquals(closed.sni, "localhost");
    });
  },
});

Deno.test("direct TLS without ALPN is closed before anything reaches PostgreSQL", async () => {
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const outcome = await directTls(pgtls.port, undefined);
    // As PostgreSQL 17 does, the handshake completes and the check follows it.
    assert(outcome.handshake === "ok", "the handshake completes");
    assert(outcome.ending.closedByPeer, "pgtls closes the connection");
    assertEquals(outcome.ending.bytes.length, 0, "no PostgreSQL message (no 'R') arrives");
    const closed = await sessionClosed(pgtls, "direct_tls_refused");
    assertEquals(closed.user, null, "the startup packet was never read");
  });
});

Deno.test({
  name: "direct TLS offering only another ALPN protocol fails its handshake; pgtls keeps serving",
  fn: async () => {
    await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
      const outcome = await directTls(pgtls.port, ["http/1.1"]);
      // As PostgreSQL 17 does; every runtime's node:tls refuses an ALPN mismatch itself.
      assertEquals(outcome.handshake, "failed", "pgtls refuses the TLS handshake");
      await sessionClosed(pgtls, "client_tls_failed");
      await assertStillServing(pgtls);
    });
  },
});

Deno.test({
  name:
    "a first packet that starts with 0x16 but is no TLS handshake is closed and pgtls keeps serving",
  fn: async () => {
    await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
      // A handshake record header announcing 5 bytes, then bytes that are no ClientHello.
      await writeAll(tcp, Uint8Array.of(0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8));
      const ending = await readUntilClosed(tcp);
      assert(ending.closedByPeer, "pgtls closes the connection");
      assert(
        !parseMessages(ending.bytes).some((m) => m.type === "R"),
        "nothing from PostgreSQL arrives",
      );
      await sessionClosed(pgtls, "client_tls_failed");
      await assertStillServing(pgtls);
    });
  },
});

/** A ClientHello for direct TLS (SNI localhost, ALPN postgresql), as `node:tls` writes it. */
function directTlsClientHello(): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const wire = new Duplex({
      read() {},
      write(chunk: Uint8Array, _encoding, callback) {
        resolve(Uint8Array.from(chunk));
        callback();
        socket.destroy();
      },
    });
    const socket = tls.connect({
      socket: wire,
      servername: "localhost",
      ALPNProtocols: ["postgresql"],
    });
    socket.on("error", () => {});
  });
}

/** Busy-waits `ms`: a timer cannot place a write a fraction of a millisecond later. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Waiting.
  }
}

Deno.test({
  name:
    "a direct-TLS ClientHello that arrives in two segments gets a ServerHello, however far apart",
  fn: async () => {
    const hello = await directTlsClientHello();
    await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
      // A second segment that lands while pgtls starts its handshake on the first was once
      // handed to TLS before the first (Deno crashed, Node.js failed the handshake). Where
      // that window falls depends on the machine, so the gaps sweep 0 to 1.5 ms.
      const answers: string[] = [];
      for (let attempt = 0; attempt < 64; attempt++) {
        const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
        tcp.setNoDelay(true);
        try {
          await writeAll(tcp, hello.subarray(0, 100));
          spin((attempt % 16) * 0.1);
          await writeAll(tcp, hello.subarray(100));
          const record = await readExactly(tcp, 3).catch(() => new Uint8Array(0));
          answers.push(record.join(","));
        } finally {
          tcp.close();
        }
      }
      const handshakes = answers.filter((a) => a === "22,3,3").length;
      assertEquals(handshakes, answers.length, `TLS records received: ${answers.join(" ")}`);
      await assertStillServing(pgtls);
    });
  },
});

for (const [what, part] of [["its ClientHello", 1], ["half its ClientHello", 0.5]] as const) {
  Deno.test(`a direct-TLS client that sends ${what} and then its FIN is let go at once, not at handshake_timeout`, async () => {
    const hello = await directTlsClientHello();
    // Far beyond the wait for the log line below: a missed FIN shows as that wait failing.
    const pgtls = await startProxy(await realTlsBackend(), { handshake_timeout: "60s" });
    await withProxy(pgtls, async () => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
      await writeAll(tcp, hello.subarray(0, Math.round(hello.length * part)));
      await tcp.closeWrite();
      const ending = await readUntilClosed(tcp);
      assert(ending.closedByPeer, "pgtls closes the connection");
      const closed = await pgtls.waitForLog((l) => l.msg === "session closed", 10_000);
      assertEquals(closed.reason, "client_tls_failed", JSON.stringify(closed));
      assertMatch(String(closed.error), /connection closed during the TLS handshake/);
      assertEquals(closed.user, null, "the startup packet was never read");
    });
  });
}

for (const path of ["SSLRequest", "direct TLS"] as const) {
  Deno.test(`a client that rejects pgtls's certificate (${path}) is logged as a failed TLS handshake`, async () => {
    await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
      if (path === "SSLRequest") {
        await writeAll(tcp, sslRequest());
        assertEquals(await readExactly(tcp, 1), Uint8Array.of(ACCEPT_BYTE));
      }
      // No caCerts: the client does not trust the test CA and aborts with an alert.
      const conn = await Deno.startTls(tcp, {
        hostname: "localhost",
        alpnProtocols: ["postgresql"],
      });
      let failed = false;
      try {
        await conn.handshake();
      } catch {
        failed = true;
      } finally {
        conn.close();
      }
      assert(failed, "the client refuses the handshake");
      const closed = await pgtls.waitForLog((l) => l.msg === "session closed");
      assertEquals(closed.reason, "client_tls_failed", JSON.stringify(closed));
    });
  });
}

Deno.test("with direct_tls false a direct-TLS client is closed even when it offers ALPN postgresql", async () => {
  const pgtls = await startProxy(await realTlsBackend(), { direct_tls: false });
  await withProxy(pgtls, async () => {
    const outcome = await directTls(pgtls.port, ["postgresql"]);
    assertEquals(outcome.handshake, "failed", "pgtls does not complete the TLS handshake");
    await sessionClosed(pgtls, "direct_tls_refused");
  });
});

Deno.test("on the SSLRequest path pgtls negotiates ALPN postgresql when the client offers it", async () => {
  const { certs } = await fixture();
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const conn = await connectTls(pgtls.port, certs.proxyCa, { alpn: ["postgresql"] });
    try {
      assertEquals((await conn.handshake()).alpnProtocol, "postgresql");
      await writeAll(conn, TEST_STARTUP);
      assertReachedPostgres(await readMessage(conn));
    } finally {
      conn.close();
    }
  });
});

Deno.test("on the SSLRequest path a client that offers no ALPN is still accepted", async () => {
  const { certs } = await fixture();
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const conn = await connectTls(pgtls.port, certs.proxyCa);
    try {
      assertEquals((await conn.handshake()).alpnProtocol, null);
      await writeAll(conn, TEST_STARTUP);
      assertReachedPostgres(await readMessage(conn));
    } finally {
      conn.close();
    }
  });
});

// --- injection -------------------------------------------------------------------------------

Deno.test("bytes sent with the SSLRequest before the TLS handshake close the connection without 'S' or a backend", async () => {
  let connections = 0;
  const backend = await startMockBackend(async (conn) => {
    connections++;
    await conn.read(1).catch(() => {});
  });
  try {
    await withProxy(
      await startProxy({ address: `127.0.0.1:${backend.port}`, tls_enabled: false }),
      async (pgtls) => {
        const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
        // One write: the StartupMessage rides in the same segment as the SSLRequest.
        await writeAll(tcp, concat(sslRequest(), TEST_STARTUP));
        const ending = await readUntilClosed(tcp);
        assert(ending.closedByPeer, "pgtls closes the connection");
        assertEquals(ending.bytes, new Uint8Array(0), "no 'S' (nor anything else) is sent");
        const closed = await sessionClosed(pgtls, "injection");
        assertMatch(String(closed.error), /after SSLRequest/);
        assertEquals(backend.sessions.length, 0, "the backend never receives a connection");
        assertEquals(connections, 0);
      },
    );
  } finally {
    await backend.close();
  }
});

Deno.test("a backend that sends bytes after its 'S' gives the client FATAL 08006 about unexpected bytes", async () => {
  const { certs } = await fixture();
  let sslRequestSeen: Uint8Array | undefined;
  const backend = await startMockBackend(async (conn) => {
    sslRequestSeen = await conn.read(8);
    // 'S' and a forged AuthenticationOk in one write, before any handshake.
    await conn.write(concat(Uint8Array.of(ACCEPT_BYTE), authentication(AUTH_OK)));
    await conn.read(1).catch(() => {});
  });
  try {
    const pgtls = await startProxy({
      address: `127.0.0.1:${backend.port}`,
      tls_enabled: true,
      ca_file: certs.dbCa,
      server_name: "db.pgtls.test",
    });
    await withProxy(pgtls, async () => {
      const conn = await connectTls(pgtls.port, certs.proxyCa);
      await writeAll(conn, TEST_STARTUP);
      let fields: Record<string, string>;
      try {
        fields = await readError(conn);
      } finally {
        conn.close();
      }
      assertEquals(fields.S, "FATAL");
      assertEquals(fields.C, "08006");
      assertMatch(fields.M!, /unexpected byte\(s\) after accepting TLS/);
      assertEquals(sslRequestSeen, sslRequest());
      const closed = await sessionClosed(pgtls, "backend_unavailable");
      assertMatch(String(closed.error), /9 unexpected byte\(s\)/);
    });
    await Promise.all(backend.sessions);
    assertEquals(backend.sessions.length, 1);
  } finally {
    await backend.close();
  }
});

// --- malformed first packets -----------------------------------------------------------------

/** A protocol 2.0 startup packet: 296 bytes, version 2.0, fixed-width fields. */
function protocol2Startup(): Uint8Array {
  const out = new Uint8Array(296);
  out.set(u32(296), 0);
  out.set(u32(2 << 16), 4);
  out.set(new TextEncoder().encode(TEST_DATABASE), 8);
  out.set(new TextEncoder().encode(TEST_USER), 8 + 64);
  return out;
}

/**
 * First bytes whose length is no startup packet's: PostgreSQL closes such a
 * connection without a word (it logs "invalid length of startup packet"),
 * and clients rely on it: node-postgres's connect-then-end sends Terminate
 * before its SSLRequest and fails on an answer.
 */
const NO_PACKET: readonly { name: string; bytes: Uint8Array }[] = [
  { name: "a length of 4", bytes: u32(4) },
  { name: "a length of 20000", bytes: concat(u32(20000), u32(3 << 16)) },
  {
    name: "a Terminate message (node-postgres's connect-then-end)",
    bytes: terminate(),
  },
];

for (const { name, bytes } of NO_PACKET) {
  Deno.test(`a first packet with ${name} is closed without a reply, as PostgreSQL does, and logged at debug`, async () => {
    await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
      await writeAll(tcp, bytes);
      const ending = await readUntilClosed(tcp);
      assert(ending.closedByPeer, "pgtls closes the connection");
      assertEquals(ending.bytes.length, 0, "and sends nothing");
      const closed = await sessionClosed(pgtls, "invalid_packet_length");
      assertEquals(closed.level, "debug");
    });
  });
}

const MALFORMED: readonly { name: string; bytes: Uint8Array; code: string; message: RegExp }[] = [
  {
    name: "the unknown request code 1234/9999",
    bytes: packet((1234 << 16) | 9999),
    code: "08P01",
    message: /1234\/9999/,
  },
  {
    name: "the unknown protocol 9999.0",
    bytes: concat(startupMessage({ user: TEST_USER }).subarray(0, 4), u32(9999 << 16)),
    code: "08P01",
    message: /9999\.0/,
  },
  { name: "protocol 2.0", bytes: protocol2Startup(), code: "0A000", message: /protocol 2\.0/ },
];

for (const { name, bytes, code, message } of MALFORMED) {
  Deno.test(`a first packet with ${name} gets FATAL ${code} and the connection closes`, async () => {
    await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
      await writeAll(tcp, bytes);
      const ending = await readUntilClosed(tcp);
      assert(ending.closedByPeer, "pgtls closes the connection after the error");
      const messages = parseMessages(ending.bytes);
      assertEquals(messages.map((m) => m.type), ["E"], "exactly one ErrorResponse, then close");
      const fields = errorFields(messages[0]!.body);
      assertEquals(fields.S, "FATAL");
      assertEquals(fields.C, code);
      assertMatch(fields.M!, message);
      await sessionClosed(pgtls, "protocol_violation");
    });
  });
}

Deno.test("a StartupMessage with a broken parameter layout inside TLS gets FATAL 08P01 and the connection closes", async () => {
  const { certs } = await fixture();
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const conn = await connectTls(pgtls.port, certs.proxyCa);
    // "user\0pgtls_app" with no closing terminator byte.
    const body = new TextEncoder().encode(`user\0${TEST_USER}`);
    await writeAll(conn, packet(3 << 16, body));
    const ending = await readUntilClosed(conn);
    assert(ending.closedByPeer, "pgtls closes the connection after the error");
    const messages = parseMessages(ending.bytes);
    assertEquals(messages.map((m) => m.type), ["E"]);
    const fields = errorFields(messages[0]!.body);
    assertEquals(fields.S, "FATAL");
    assertEquals(fields.C, "08P01");
    assertMatch(fields.M!, /layout/);
    const closed = await sessionClosed(pgtls, "protocol_violation");
    assertEquals(closed.sni, "localhost", "the error came inside the TLS session");
  });
});

Deno.test("an SSLRequest inside the TLS session gets FATAL 08P01 and the connection closes", async () => {
  const { certs } = await fixture();
  await withProxy(await startProxy(await realTlsBackend()), async (pgtls) => {
    const conn = await connectTls(pgtls.port, certs.proxyCa);
    await writeAll(conn, sslRequest());
    const ending = await readUntilClosed(conn);
    assert(ending.closedByPeer, "pgtls closes the connection after the error");
    const messages = parseMessages(ending.bytes);
    assertEquals(messages.map((m) => m.type), ["E"]);
    assertEquals(errorFields(messages[0]!.body).C, "08P01");
    await sessionClosed(pgtls, "protocol_violation");
  });
});

// --- handshake timeout -----------------------------------------------------------------------

for (
  const [what, bytes] of [
    ["nothing", new Uint8Array(0)],
    ["half a packet", Uint8Array.of(0, 0, 0)],
  ] as const
) {
  Deno.test(`a client that sends ${what} is closed after handshake_timeout`, async () => {
    const pgtls = await startProxy(await realTlsBackend(), { handshake_timeout: "500ms" });
    await withProxy(pgtls, async () => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
      if (bytes.length > 0) await writeAll(tcp, bytes);
      const ending = await readUntilClosed(tcp);
      assert(ending.closedByPeer, "pgtls closes the idle connection by itself");
      assertEquals(ending.bytes, new Uint8Array(0), "and sends nothing");
      const closed = await sessionClosed(pgtls, "handshake_timeout");
      assertMatch(String(closed.error), /handshake_timeout/);
    });
  });
}

// --- CancelRequest ---------------------------------------------------------------------------

/**
 * Sends a CancelRequest to pgtls (in plaintext or inside TLS) with a mock
 * backend behind it, and checks that exactly its 16 bytes reach the backend
 * (over TLS when `backendTls`) and the client gets no reply.
 */
async function cancelThrough(clientTls: boolean, backendTls: boolean): Promise<void> {
  const { certs } = await fixture();
  const [dbCert, dbKey] = await Promise.all([
    Deno.readTextFile(certs.db.cert),
    Deno.readTextFile(certs.db.key),
  ]);
  const cancel = cancelRequest(4242, 0x5eed1234);
  let sslRequestSeen: Uint8Array | undefined;
  let received: Uint8Array | undefined;
  let afterwards: Uint8Array | null | undefined;
  let failure: unknown;
  const backend = await startMockBackend(async (conn) => {
    try {
      if (backendTls) {
        sslRequestSeen = await conn.read(8);
        await conn.write(Uint8Array.of(ACCEPT_BYTE));
        await conn.startTls(dbCert, dbKey);
      }
      received = await conn.read(cancel.length);
      // Like PostgreSQL: act on the cancel and close. Anything more pgtls sent would show here.
      conn.end();
      afterwards = await conn.read(1).catch(() => null);
    } catch (error) {
      failure = error;
    }
  });
  try {
    const pgtls = await startProxy({
      address: `127.0.0.1:${backend.port}`,
      tls_enabled: backendTls,
      ca_file: certs.dbCa,
      server_name: "db.pgtls.test",
    });
    await withProxy(pgtls, async () => {
      const conn = clientTls
        ? await connectTls(pgtls.port, certs.proxyCa)
        : await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
      await writeAll(conn, cancel);
      const ending = await readUntilClosed(conn);
      assert(ending.closedByPeer, "pgtls closes the client's connection");
      assertEquals(ending.bytes, new Uint8Array(0), "the client gets no reply to a cancel");
      const closed = await sessionClosed(pgtls, "cancel_forwarded");
      assertEquals(closed.sni, clientTls ? "localhost" : null);
    });
    await Promise.all(backend.sessions);
    assertEquals(failure, undefined, "the mock backend's script ran to its end");
    assertEquals(backend.sessions.length, 1, "one backend connection carries the cancel");
    assertEquals(sslRequestSeen, backendTls ? sslRequest() : undefined);
    assertEquals(received, cancel, "the backend receives the CancelRequest unchanged");
    assertEquals(afterwards, null, "and nothing after it");
  } finally {
    await backend.close();
  }
}

Deno.test("a plaintext CancelRequest is forwarded to a TLS backend over TLS", () =>
  cancelThrough(false, true));

Deno.test("a CancelRequest inside TLS is forwarded to a TLS backend over TLS", () =>
  cancelThrough(true, true));

Deno.test("a plaintext CancelRequest is forwarded to a plaintext backend", () =>
  cancelThrough(false, false));

Deno.test("a CancelRequest inside TLS is forwarded to a plaintext backend", () =>
  cancelThrough(true, false));
