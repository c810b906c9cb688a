/**
 * The backend leg of pgtls's own authentication (`auth`) against what can
 * sit there besides the real backend: a man in the middle when the leg is
 * not verified (`tls_verify: none`), a backend that asks for an absurd SCRAM
 * iteration count, and the protocol negotiation of a client that asks for a
 * newer protocol.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type LogLine, type PgtlsProcess, startPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "../helpers/pg.ts";
import { authProxy, secretOf, writeUsersFile } from "../helpers/auth.ts";
import { bindingOfFile, type RawConnect, rawScram, rawSession } from "../helpers/scram_wire.ts";
import { makeSelfSigned, type SelfSignedKind } from "../helpers/certs.ts";
import { startMitm } from "../helpers/mitm.ts";
import { type ScriptedConn, startMockBackend } from "../helpers/mock_backend.ts";
import {
  decodeSaslInitialResponse,
  encodeAuthenticationSasl,
  encodeSaslContinue,
} from "../../src/protocol/messages.ts";
import { toBase64 } from "../../src/proxy/auth/scram_crypto.ts";

/** The session lines pgtls logged. */
function sessions(pgtls: PgtlsProcess): LogLine[] {
  return pgtls.logs.filter((l) => l.msg === "session closed");
}

/** pgtls with auth (the test user's own SCRAM secret) in front of a TLS backend at `port`, unverified. */
async function unverifiedBackend(port: number): Promise<PgtlsProcess> {
  const { dir, certs, pg } = await fixture();
  const users = await writeUsersFile(dir, [[TEST_USER, await secretOf(pg, TEST_USER)]]);
  return await startPgtls(dir, {
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
      },
      backend: { address: `127.0.0.1:${port}`, tls_enabled: true, tls_verify: "none" },
      auth: { users_file: users },
    }],
  });
}

const MITM_CASES: readonly {
  readonly kind: SelfSignedKind;
  readonly stripPlus: boolean;
  readonly error: RegExp;
  /** The SQLSTATE of the real server's refusal, or null when pgtls refuses first. */
  readonly refusedBy: string | null;
}[] = [
  // No binding can be computed: pgtls refuses, as libpq does, rather than log in unbound.
  {
    kind: "ed25519",
    stripPlus: false,
    error:
      /FATAL: +pgtls: backend 127\.0\.0\.1:\d+: the backend offers SCRAM-SHA-256-PLUS, but its certificate has no channel binding: its signature algorithm \(Ed25519, OID 1\.3\.101\.112\) has no tls-server-end-point hash pgtls can compute; pgtls does not log in without the channel binding the backend offers/,
    refusedBy: null,
  },
  // PLUS taken out of the offer: pgtls says 'y' and the real server sees the downgrade.
  {
    kind: "ed25519",
    stripPlus: true,
    error: /FATAL: +SCRAM channel binding negotiation error/,
    refusedBy: "28000",
  },
  // A certificate with a binding: the real server finds it is not its own.
  {
    kind: "rsa",
    stripPlus: false,
    error: /FATAL: +SCRAM channel binding check failed/,
    refusedBy: "28000",
  },
];

for (const { kind, stripPlus, error, refusedBy } of MITM_CASES) {
  Deno.test(
    `a man in the middle with an ${kind} certificate${
      stripPlus ? " that hides SCRAM-SHA-256-PLUS" : ""
    } on an unverified backend leg cannot log in`,
    async () => {
      const { dir, certs, pg } = await fixture();
      const mitm = await startMitm({
        cert: await makeSelfSigned(dir, `mitm-${kind}`, kind),
        serverPort: pg.port,
        stripPlus,
      });
      const pgtls = await unverifiedBackend(mitm.port);
      try {
        const result = await psql(
          {
            port: pgtls.port,
            caFile: certs.proxyCa,
            extra: `password=${TEST_PASSWORD} channel_binding=require`,
          },
          "SELECT current_user",
          { check: false },
        );
        assertEquals(result.code, 2, `logged in through the man in the middle: ${result.stdout}`);
        assertMatch(result.stderr, error);
        assert(mitm.relayed() > 0, "the session went through the man in the middle");
      } finally {
        assertEquals(await pgtls.stop(), 0);
        await mitm.close();
      }
      const [line] = sessions(pgtls);
      // pgtls refusing to log in unbound is its own failure; the real
      // server's ErrorResponse through the man in the middle is a refusal.
      assertEquals(
        [line!.reason, line!.auth, line!.sqlstate],
        refusedBy === null
          ? ["backend_auth_failed", "scram-sha-256-plus", undefined]
          : ["backend_refused", "scram-sha-256-plus", refusedBy],
      );
    },
  );
}

/** Reads one whole message from a mock backend's peer (pgtls); the startup packet has no type byte. */
async function readFrom(conn: ScriptedConn, typed: boolean): Promise<Uint8Array> {
  const head = await conn.read(typed ? 5 : 4);
  const length = new DataView(head.buffer).getUint32(typed ? 1 : 0);
  return await conn.read(length - 4);
}

Deno.test("a backend that asks for more SCRAM iterations than pgtls computes fails the login with 08006 at once", async () => {
  const { dir, certs } = await fixture();
  // What exp6 showed: 2^31-1 PBKDF2 rounds kept pgtls busy for minutes after the client left.
  const backend = await startMockBackend(async (conn) => {
    await readFrom(conn, false);
    await conn.write(encodeAuthenticationSasl(["SCRAM-SHA-256"]));
    const initial = decodeSaslInitialResponse(await readFrom(conn, true));
    const clientNonce = /r=([^,]+)/.exec(new TextDecoder().decode(initial.data))![1];
    const salt = toBase64(crypto.getRandomValues(new Uint8Array(16)));
    await conn.write(
      encodeSaslContinue(
        new TextEncoder().encode(`r=${clientNonce}mock,s=${salt},i=2147483647`),
      ),
    );
    await conn.readUntilEnd();
  });
  const users = await writeUsersFile(dir, [["victim", "plain-password"]]);
  const pgtls = await startPgtls(dir, {
    proxies: [{
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
      },
      // Longer than psql's own connect_timeout (10 s): only pgtls's refusal can end this login.
      backend: { address: `127.0.0.1:${backend.port}`, tls_enabled: false, connect_timeout: "60s" },
      auth: { users_file: users },
    }],
  });
  try {
    const result = await psql(
      { port: pgtls.port, caFile: certs.proxyCa, extra: "user=victim password=plain-password" },
      "SELECT 1",
      { check: false },
    );
    assertMatch(
      result.stderr,
      /FATAL: +pgtls: backend 127\.0\.0\.1:\d+: the backend asks for 2147483647 SCRAM iterations; pgtls computes at most 100000/,
    );
  } finally {
    assertEquals(await pgtls.stop(), 0);
    await backend.close();
  }
  const [line] = sessions(pgtls);
  assertEquals([line!.reason, line!.level], ["backend_auth_failed", "warn"]);
});

Deno.test("a client asking for protocol 3.1 and a _pq_ option hears NegotiateProtocolVersion before the authentication, as from PostgreSQL itself", async () => {
  const { dir, certs, pg } = await fixture();
  const users = await writeUsersFile(dir, [[TEST_USER, await secretOf(pg, TEST_USER)]]);
  const pgtls = await startPgtls(dir, {
    proxies: [authProxy(certs, pg.port, { users_file: users })],
  });
  const parameters = { user: TEST_USER, database: TEST_DATABASE, "_pq_.pgtls_test": "on" };
  const exchange = async (connect: RawConnect, cert: string) => {
    const conn = await rawSession(connect, parameters, 1);
    try {
      return await rawScram(conn, {
        password: TEST_PASSWORD,
        mechanism: "SCRAM-SHA-256-PLUS",
        gs2Header: "p=tls-server-end-point,,",
        binding: await bindingOfFile(cert),
      });
    } finally {
      conn.close();
    }
  };
  try {
    const direct = await exchange({ port: pg.port, caFile: certs.dbCa }, certs.db.cert);
    const through = await exchange({ port: pgtls.port, caFile: certs.proxyCa }, certs.proxy.cert);
    // The premise: PostgreSQL 15 negotiates, first thing.
    assertEquals(direct.seen.slice(0, 2), ["v", "R10"]);
    assert(direct.ready, JSON.stringify(direct.error));
    assertEquals([through.ready, through.error], [true, undefined]);
    assertEquals(through.seen, direct.seen);
    assertEquals(through.negotiation, direct.negotiation);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
