/**
 * What the session log lines say: `session opened` at debug, the client
 * certificate's subject, the backend's refusal with its SQLSTATE, the end of
 * a session the client ended with Terminate, a client's connection error.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import {
  type LogLine,
  type PgtlsProcess,
  proxyConfig,
  startPgtls,
  TARGET,
} from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";
import { issueCertificate } from "../helpers/certs.ts";
import { createRole } from "../helpers/auth.ts";
import { run } from "../helpers/run.ts";
import { startupMessage } from "../helpers/packets.ts";

/** The `session closed` lines so far. */
function closedLines(pgtls: PgtlsProcess): LogLine[] {
  return pgtls.logs.filter((l) => l.msg === "session closed");
}

/** Waits for `count` `session closed` lines and returns them. */
async function closedSessions(pgtls: PgtlsProcess, count: number): Promise<LogLine[]> {
  await pgtls.waitForLog(() => closedLines(pgtls).length >= count, 60_000);
  return closedLines(pgtls);
}

Deno.test("session opened is logged at debug with the client, SNI, TLS version, cipher and client certificate; session closed names the certificate too", async () => {
  const { dir, certs, pg } = await fixture();
  const client = await issueCertificate(
    dir,
    "log-client",
    { cert: certs.proxyCa, key: `${dir}/proxy-ca.key` },
    { subject: `/CN=${TEST_USER}/O=pgtls tests`, extensions: ["extendedKeyUsage=clientAuth"] },
  );
  const config = proxyConfig(certs, pg.port, false);
  const listener = config.listener as { tls: Record<string, unknown> };
  listener.tls.client_ca_file = certs.proxyCa;
  const pgtls = await startPgtls(dir, { proxies: [config] });
  try {
    const result = await psql(
      {
        port: pgtls.port,
        caFile: certs.proxyCa,
        host: "proxy.pgtls.test",
        extra: `hostaddr=127.0.0.1 sslcert=${client.cert} sslkey=${client.key}`,
      },
      "SELECT 1",
    );
    assertEquals(result.stdout.trim(), "1");
    const [closed] = await closedSessions(pgtls, 1);
    const opened = pgtls.logs.find((l) => l.msg === "session opened");
    assert(opened !== undefined, "a session opened line");
    assertEquals(opened.level, "debug");
    assertEquals(opened.id, closed!.id);
    assertEquals(opened.client, closed!.client);
    assertEquals(opened.sni, "proxy.pgtls.test");
    assertMatch(String(opened.tls), /^TLSv1\.[23]$/);
    assertMatch(String(opened.cipher), /AES|CHACHA/);
    assertEquals([opened.user, opened.database], [TEST_USER, TEST_DATABASE]);
    assertMatch(String(opened.client_cert), new RegExp(`CN=${TEST_USER}`));
    assertMatch(String(opened.client_cert), /O=pgtls tests/);
    assertEquals(closed!.client_cert, opened.client_cert);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

for (const backendTls of [true, false]) {
  Deno.test(`a backend's refusal before ReadyForQuery is logged at warn as backend_refused with its SQLSTATE (${backendTls ? "TLS" : "plaintext"} backend)`, async () => {
    const { dir, certs } = await fixture();
    // The fixture's cluster speaks TLS, the other one only plaintext.
    const pg = backendTls ? (await fixture()).pg : await plaintextCluster();
    await createRole(pg, "log_limited", "limited-pw", "CONNECTION LIMIT 0");
    const pgtls = await startPgtls(dir, { proxies: [proxyConfig(certs, pg.port, backendTls)] });
    try {
      const target = { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" };
      const attempts: [string, RegExp][] = [
        [`password=wrong`, /password authentication failed/],
        [`dbname=log_no_such_db`, /database "log_no_such_db" does not exist/],
        [`user=log_limited password=limited-pw`, /too many connections for role "log_limited"/],
      ];
      for (const [extra, said] of attempts) {
        const result = await psql(
          { ...target, extra: `${target.extra} ${extra}` },
          "SELECT 1",
          { check: false },
        );
        assertEquals(result.code, 2, result.stdout);
        assertMatch(result.stderr, said);
      }
      const fine = await psql(target, "SELECT 1");
      assertEquals(fine.stdout.trim(), "1");
      const lines = await closedSessions(pgtls, 4);
      assertEquals(
        lines.map((l) => [l.reason, l.sqlstate, l.level]),
        [
          ["backend_refused", "28P01", "warn"],
          ["backend_refused", "3D000", "warn"],
          ["backend_refused", "53300", "warn"],
          [lines[3]!.reason, undefined, "info"],
        ],
      );
      assertMatch(String(lines[1]!.error), /database "log_no_such_db" does not exist/);
      assert(["client_closed", "backend_closed"].includes(String(lines[3]!.reason)));
    } finally {
      assertEquals(await pgtls.stop(), 0);
    }
  });
}

/** Sessions run for the Terminate race: the race was lost about once in twenty. */
const TERMINATED_SESSIONS = 200;

/** psql processes at once. */
const PARALLEL = 4;

Deno.test(`${TERMINATED_SESSIONS} sessions a client ends with Terminate through a TLS backend are all client_closed`, async () => {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startPgtls(dir, {
    log: { level: "info", format: "json" },
    proxies: [proxyConfig(certs, pg.port, true)],
  });
  try {
    const target = { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" };
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < TERMINATED_SESSIONS) {
          next++;
          await psql(target, "SELECT 1");
        }
      }),
    );
    const lines = await closedSessions(pgtls, TERMINATED_SESSIONS);
    const reasons = new Map<string, number>();
    for (const line of lines) {
      reasons.set(String(line.reason), (reasons.get(String(line.reason)) ?? 0) + 1);
    }
    assertEquals(Object.fromEntries(reasons), { client_closed: TERMINATED_SESSIONS });
    // At info, no session opened lines.
    assertEquals(pgtls.logs.filter((l) => l.msg === "session opened").length, 0);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

/**
 * A client that logs in over TLS, waits for the backend's first answer
 * (the relay is running by then) and resets its connection (SO_LINGER 0).
 */
const RESETTING_CLIENT = `
import socket, ssl, struct, sys
port, ca, startup = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
raw = socket.create_connection(("127.0.0.1", port))
raw.sendall(struct.pack("!ii", 8, 80877103))
assert raw.recv(1) == b"S"
context = ssl.create_default_context(cafile=ca)
tls = context.wrap_socket(raw, server_hostname="localhost")
tls.sendall(startup)
assert tls.recv(1) == b"R"
tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
tls.close()
`;

Deno.test("a client whose connection fails mid-session is logged client_error with the error", async () => {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startPgtls(dir, { proxies: [proxyConfig(certs, pg.port, false)] });
  try {
    const startup = startupMessage({ user: TEST_USER, database: TEST_DATABASE });
    const hex = Array.from(startup, (b) => b.toString(16).padStart(2, "0")).join("");
    await run("python3", ["-c", RESETTING_CLIENT, String(pgtls.port), certs.proxyCa, hex]);
    const [line] = await closedSessions(pgtls, 1);
    if (TARGET === "deno") {
      // Deno 2.9's node:tls reports a reset beneath a TLS socket as its end
      // of stream, with no error anywhere: a clean close is all pgtls sees.
      assertEquals([line!.reason, line!.error], ["client_closed", undefined]);
      return;
    }
    assertEquals([line!.reason, line!.level], ["client_error", "info"]);
    assertMatch(String(line!.error), /ECONNRESET|reset/i);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
