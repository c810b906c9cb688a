/**
 * pgtls's own authentication (`auth`) against the test cluster: pgtls is the
 * SCRAM server its clients log in to, bound to its own certificate, and logs
 * in to the backend with the ClientKey their proofs reveal, bound to the
 * backend's certificate.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import {
  type LogLine,
  NORMAL_ENDS,
  type PgtlsProcess,
  runPgtls,
  startPgtls,
} from "../helpers/pgtls.ts";
import { type ClientTarget, interruptedSleep, libpqEnv, psql } from "../helpers/clients.ts";
import type { PgCluster } from "../helpers/pg.ts";
import { TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "../helpers/pg.ts";
import { freePort, run } from "../helpers/run.ts";
import {
  addHbaLines,
  authProxy,
  createRole,
  ident,
  literal,
  secretOf,
  usersFile,
  writeUsersFile,
} from "../helpers/auth.ts";
import { bindingOfFile, closed, rawScram, rawSession, saltOf } from "../helpers/scram_wire.ts";
import { makeLeaf } from "../helpers/certs.ts";
import { connectTls, errorFields, readMessage, writeAll } from "../helpers/wire.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { packet, query } from "../helpers/packets.ts";
import { stringify } from "yaml";
import {
  keysFromSaltedPassword,
  saltedPassword,
  toBase64,
} from "../../src/proxy/auth/scram_crypto.ts";

/** Roles this file creates, with their passwords. */
const ROLES = {
  plain: ["auth_plain", "plain-pass-1"],
  md5: ["auth_md5", "md5-pass-1"],
  clear: ["auth_clear", "clear-pass-1"],
  trust: ["auth_trust", "trust-pass-1"],
  lookup: ["auth_lookup", "lookup-pass-1"],
  odd: [`o'neil; "x`, "odd-pass-1"],
  reload: ["auth_reload", "reload-pass-1"],
  route: ["auth_route", "route-pass-1"],
} as const;

/**
 * Non-ASCII passwords: SASLprep maps, normalizes, or fails and falls back to
 * the bytes. PostgreSQL checks the mapped password before NFKC: a character
 * unassigned in Unicode 3.2 fails even where NFKC would make it ASCII, and a
 * bidi check passes where NFKC would bring in a left-to-right character.
 */
const NON_ASCII = [
  ["auth_utf8_nfkc", "p\u00e4ss\u00a0w\u00f6rd\u00ad\u2168"],
  ["auth_utf8_bidi", "\u0627\u0031-bidi"],
  ["auth_utf8_bidi_nfkc", "\u0627\u2100\u0627"],
  ["auth_utf8_squared", "x\u{1F130}y"],
  ["auth_utf8_digit_stop", "key\u{1F100}"],
  ["auth_utf8_only_hyphen", "\u00AD"],
  ["auth_utf8_fraction", "\u2150x"],
] as const;

let roles: Promise<void> | undefined;

/** Creates the roles of {@link ROLES} once per test process. */
function ensureRoles(pg: PgCluster): Promise<void> {
  roles ??= (async () => {
    for (const [name, password] of [...Object.values(ROLES), ...NON_ASCII]) {
      await createRole(pg, name, password);
    }
    // An md5 secret for the md5 backend; the others keep SCRAM secrets.
    await pg.sql(
      `SET password_encryption = 'md5'; ALTER ROLE ${ROLES.md5[0]} PASSWORD ${
        literal(ROLES.md5[1])
      }`,
    );
    await addHbaLines(pg, [
      `host all ${ROLES.md5[0]} 127.0.0.1/32 md5`,
      `host all ${ROLES.clear[0]} 127.0.0.1/32 password`,
      `host all ${ROLES.trust[0]} 127.0.0.1/32 trust`,
    ]);
    // What PgBouncer's documentation suggests: a function that reads pg_authid
    // for a role that cannot.
    await pg.sql(`
      CREATE OR REPLACE FUNCTION public.pgtls_user_secret(name text)
        RETURNS TABLE (rolname name, rolpassword text)
        LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
        AS $$ SELECT rolname, rolpassword FROM pg_authid WHERE rolname = name $$;
      REVOKE ALL ON FUNCTION public.pgtls_user_secret(text) FROM PUBLIC;
      GRANT EXECUTE ON FUNCTION public.pgtls_user_secret(text) TO ${ROLES.lookup[0]};
    `);
  })();
  return roles;
}

/** psql as `user` with `password` through pgtls; default settings unless `extra` says. */
function psqlAs(
  target: ClientTarget,
  user: string,
  password: string,
  query: string,
  extra = "",
) {
  const quoted = (value: string) => `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  return psql(
    { ...target, extra: `user=${quoted(user)} password=${quoted(password)} ${extra}` },
    query,
    { check: false },
  );
}

const BACKEND_SSL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/**
 * The session lines pgtls logged, in order; a normal end reads `closed`,
 * whichever side ended first (after the client's Terminate the two race).
 */
function sessions(pgtls: PgtlsProcess): LogLine[] {
  return pgtls.logs.filter((l) => l.msg === "session closed").map((l) => ({
    ...l,
    reason: NORMAL_ENDS.includes(String(l.reason)) ? "closed" : l.reason,
  }));
}

/** Starts pgtls with one proxy in front of `pg` with `auth`. */
async function withAuth(
  auth: Record<string, unknown>,
  options: { pg?: PgCluster; backendTls?: boolean; backendPort?: number } = {},
): Promise<{ pgtls: PgtlsProcess; target: ClientTarget }> {
  const { dir, certs, pg } = await fixture();
  const port = options.backendPort ?? (options.pg ?? pg).port;
  const pgtls = await startPgtls(dir, {
    proxies: [authProxy(certs, port, auth, options.backendTls ?? true)],
  });
  return { pgtls, target: { port: pgtls.port, caFile: certs.proxyCa } };
}

/** A users file of the test user's SCRAM secret and the plaintext roles. */
async function standardUsers(): Promise<string> {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  return await writeUsersFile(dir, [
    [TEST_USER, await secretOf(pg, TEST_USER)],
    [ROLES.plain[0], ROLES.plain[1]],
  ]);
}

Deno.test("psql with default settings logs in through pgtls with auth, PLUS on both legs", async () => {
  const { pgtls, target } = await withAuth({ users_file: await standardUsers() });
  try {
    for (const extra of ["", "channel_binding=require", "channel_binding=disable"]) {
      const result = await psqlAs(target, TEST_USER, TEST_PASSWORD, BACKEND_SSL, extra);
      assertEquals([result.code, result.stdout.trim()], [0, "t"], `${extra}: ${result.stderr}`);
    }
    // A plaintext entry: pgtls makes its own salt for the client and answers the backend's.
    const plain = await psqlAs(target, ROLES.plain[0], ROLES.plain[1], "SELECT current_user");
    assertEquals(plain.stdout.trim(), ROLES.plain[0], plain.stderr);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  const lines = sessions(pgtls);
  assertEquals(
    lines.map((l) => [l.auth, l.backend_auth, l.reason, l.level]),
    [
      ["scram-sha-256-plus", "scram-sha-256-plus", "closed", "info"],
      ["scram-sha-256-plus", "scram-sha-256-plus", "closed", "info"],
      ["scram-sha-256", "scram-sha-256-plus", "closed", "info"],
      ["scram-sha-256-plus", "scram-sha-256-plus", "closed", "info"],
    ],
  );
});

Deno.test("psql through pgtls with auth to a plaintext backend: SCRAM without binding on that leg", async () => {
  const { dir } = await fixture();
  const plain = await plaintextCluster();
  const users = await writeUsersFile(dir, [[TEST_USER, await secretOf(plain, TEST_USER)]]);
  const { pgtls, target } = await withAuth({ users_file: users }, {
    pg: plain,
    backendTls: false,
  });
  try {
    for (const extra of ["", "channel_binding=require"]) {
      const result = await psqlAs(target, TEST_USER, TEST_PASSWORD, BACKEND_SSL, extra);
      assertEquals([result.code, result.stdout.trim()], [0, "f"], `${extra}: ${result.stderr}`);
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  assertEquals(
    sessions(pgtls).map((l) => [l.auth, l.backend_auth]),
    [["scram-sha-256-plus", "scram-sha-256"], ["scram-sha-256-plus", "scram-sha-256"]],
  );
});

Deno.test("a wrong password gets FATAL 28P01 before any backend connection: the backend may be down", async () => {
  const { pg } = await fixture();
  await ensureRoles(pg);
  const down = freePort();
  const { pgtls, target } = await withAuth({ users_file: await standardUsers() }, {
    backendPort: down,
  });
  try {
    for (const [user, password] of [[TEST_USER, "wrong"], [ROLES.plain[0], "wrong"]] as const) {
      const wrong = await psqlAs(target, user, password, "SELECT 1");
      assertEquals(wrong.code, 2);
      assertMatch(
        wrong.stderr,
        new RegExp(`FATAL: +password authentication failed for user "${user}"`),
      );
    }
    // The premise: the backend is down, as the right password shows.
    const right = await psqlAs(target, TEST_USER, TEST_PASSWORD, "SELECT 1");
    assertMatch(right.stderr, /could not connect: connection refused/);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  const [first, second] = sessions(pgtls);
  for (const line of [first!, second!]) {
    assertEquals([line.level, line.reason], ["warn", "auth_failed"]);
    assertMatch(String(line.client), /^127\.0\.0\.1:\d+$/);
    assertMatch(String(line.error), /password authentication failed for user/);
  }
  assertEquals(first!.user, TEST_USER);
});

Deno.test("an unknown user gets the same exchange and error, its salt the same at every attempt and restart", async () => {
  const { certs } = await fixture();
  const users = await standardUsers();
  const first = await withAuth({ users_file: users });
  const second = await withAuth({ users_file: users });
  const connect = (pgtls: PgtlsProcess) => ({ port: pgtls.port, caFile: certs.proxyCa });
  const attempt = async (pgtls: PgtlsProcess, user: string, password: string) => {
    const conn = await rawSession(connect(pgtls), { user, database: TEST_DATABASE });
    try {
      return await rawScram(conn, {
        password,
        mechanism: "SCRAM-SHA-256-PLUS",
        gs2Header: "p=tls-server-end-point,,",
        binding: await bindingOfFile(certs.proxy.cert),
      });
    } finally {
      conn.close();
    }
  };
  try {
    const unknown = [
      await attempt(first.pgtls, "no_such_user", "whatever"),
      await attempt(first.pgtls, "no_such_user", "whatever"),
      await attempt(second.pgtls, "no_such_user", "whatever"),
    ];
    const known = await attempt(first.pgtls, ROLES.plain[0], "wrong");
    for (const outcome of [...unknown, known]) {
      assertEquals(outcome.offered, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
      assertEquals(outcome.error?.C, "28P01");
      assert(!outcome.ready);
    }
    assertEquals(unknown[0]!.error?.M, 'password authentication failed for user "no_such_user"');
    assertEquals(known.error?.M, `password authentication failed for user "${ROLES.plain[0]}"`);
    const salts = unknown.map((o) => saltOf(o.serverFirst));
    assertEquals(new Set(salts).size, 1, "one mock salt for a user, in both processes");
    assertMatch(salts[0]!, /^[A-Za-z0-9+/]{22}==:4096$/, "16 bytes of salt, 4096 iterations");
    const other = await attempt(first.pgtls, "another_unknown_user", "whatever");
    assert(saltOf(other.serverFirst) !== salts[0], "another user gets another salt");
  } finally {
    assertEquals(await first.pgtls.stop(), 0);
    assertEquals(await second.pgtls.stop(), 0);
  }
  const line = sessions(first.pgtls)[0]!;
  assertEquals([line.reason, line.level, line.user], ["auth_failed", "warn", "no_such_user"]);
  assertMatch(String(line.error), /\(no such user\)$/);
});

Deno.test("pgtls refuses the downgrades PostgreSQL refuses: y where PLUS was offered, p with plain SCRAM, a wrong binding", async () => {
  const { certs } = await fixture();
  // No backend behind: each refusal comes from pgtls, before any backend connection.
  const { pgtls, target } = await withAuth({ users_file: await standardUsers() }, {
    backendPort: freePort(),
  });
  const binding = await bindingOfFile(certs.proxy.cert);
  const wrong = binding.slice();
  wrong[0]! ^= 1;
  const cases = [
    [
      { mechanism: "SCRAM-SHA-256", gs2Header: "y,," },
      "SCRAM channel binding negotiation error",
    ],
    [
      { mechanism: "SCRAM-SHA-256", gs2Header: "p=tls-server-end-point,,", binding },
      "malformed SCRAM message",
    ],
    [
      { mechanism: "SCRAM-SHA-256-PLUS", gs2Header: "p=tls-server-end-point,,", binding: wrong },
      "SCRAM channel binding check failed",
    ],
    [
      { mechanism: "SCRAM-SHA-256-PLUS", gs2Header: "n,," },
      "malformed SCRAM message",
    ],
  ] as const;
  try {
    for (const [scram, message] of cases) {
      const conn = await rawSession({ port: target.port, caFile: target.caFile! }, {
        user: TEST_USER,
        database: TEST_DATABASE,
      });
      try {
        const outcome = await rawScram(conn, { password: TEST_PASSWORD, ...scram });
        assertEquals([outcome.error?.S, outcome.error?.M], ["FATAL", message], scram.gs2Header);
        assertEquals(outcome.error?.C, "08P01");
      } finally {
        conn.close();
      }
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  const lines = sessions(pgtls);
  assertEquals(lines.length, cases.length);
  for (const line of lines) assertEquals([line.reason, line.level], ["auth_failed", "warn"]);
});

Deno.test("direct TLS and an SNI route with its own auth: PLUS bound to pgtls's certificate", async () => {
  const { dir, certs, pg } = await fixture();
  await ensureRoles(pg);
  const routeUsers = await writeUsersFile(dir, [[ROLES.route[0], ROLES.route[1]]]);
  const pgtls = await startPgtls(dir, {
    proxies: [{
      ...authProxy(certs, pg.port, { users_file: await standardUsers() }),
      routes: [{
        sni: "proxy.pgtls.test",
        backend: {
          address: `127.0.0.1:${pg.port}`,
          tls_enabled: true,
          ca_file: certs.dbCa,
          server_name: "db.pgtls.test",
        },
        auth: { users_file: routeUsers },
      }],
    }],
  });
  const target = { port: pgtls.port, caFile: certs.proxyCa };
  const viaRoute = { ...target, host: "proxy.pgtls.test", extra: "hostaddr=127.0.0.1" };
  try {
    const direct = await rawSession({ ...target, direct: true }, {
      user: TEST_USER,
      database: TEST_DATABASE,
    });
    try {
      const outcome = await rawScram(direct, {
        password: TEST_PASSWORD,
        mechanism: "SCRAM-SHA-256-PLUS",
        gs2Header: "p=tls-server-end-point,,",
        binding: await bindingOfFile(certs.proxy.cert),
      });
      assertEquals([outcome.ready, outcome.error], [true, undefined]);
    } finally {
      direct.close();
    }
    const routed = await psqlAs(
      viaRoute,
      ROLES.route[0],
      ROLES.route[1],
      BACKEND_SSL,
      "hostaddr=127.0.0.1",
    );
    assertEquals([routed.code, routed.stdout.trim()], [0, "t"], routed.stderr);
    // Each auth knows only its own users.
    const elsewhere = await psqlAs(target, ROLES.route[0], ROLES.route[1], "SELECT 1");
    assertMatch(elsewhere.stderr, /password authentication failed/);
    const notRouted = await psqlAs(
      viaRoute,
      TEST_USER,
      TEST_PASSWORD,
      "SELECT 1",
      "hostaddr=127.0.0.1",
    );
    assertMatch(notRouted.stderr, /password authentication failed/);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  const lines = sessions(pgtls);
  assertEquals(lines.map((l) => [l.sni, l.auth, l.reason]), [
    ["localhost", "scram-sha-256-plus", "closed"],
    ["proxy.pgtls.test", "scram-sha-256-plus", "closed"],
    ["localhost", "scram-sha-256-plus", "auth_failed"],
    ["proxy.pgtls.test", "scram-sha-256-plus", "auth_failed"],
  ]);
});

/** A SCRAM secret for `password` under a salt of its own: not the backend's. */
async function otherSecret(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const keys = await keysFromSaltedPassword(
    await saltedPassword(new TextEncoder().encode(password), salt, 4096),
  );
  return `SCRAM-SHA-256$4096:${toBase64(salt)}$${toBase64(keys.storedKey)}:${
    toBase64(keys.serverKey)
  }`;
}

Deno.test("a SCRAM secret that is not the backend's gives FATAL 28000 naming the user, not a wrong password", async () => {
  const { dir } = await fixture();
  const users = await writeUsersFile(dir, [[TEST_USER, await otherSecret(TEST_PASSWORD)]]);
  const { pgtls, target } = await withAuth({ users_file: users });
  try {
    const result = await psqlAs(target, TEST_USER, TEST_PASSWORD, "SELECT 1");
    assertEquals(result.code, 2);
    assertMatch(
      result.stderr,
      new RegExp(
        `FATAL: +pgtls cannot log in as user "${TEST_USER}": the SCRAM secret pgtls holds for this user is not the backend's`,
      ),
    );
    assertMatch(result.stderr, /HINT: +update the user's secret in pgtls's users_file/);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  const [line] = sessions(pgtls);
  assertEquals([line!.reason, line!.level], ["backend_auth_failed", "warn"]);
});

Deno.test("the backend's own FATAL reaches the client: a refused login, a database that does not exist", async () => {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  // pgtls accepts this password from its client; the backend knows another.
  const users = await writeUsersFile(dir, [
    [ROLES.plain[0], "not-the-backends-password"],
    [TEST_USER, await secretOf(pg, TEST_USER)],
  ]);
  const { pgtls, target } = await withAuth({ users_file: users });
  try {
    const refused = await psqlAs(target, ROLES.plain[0], "not-the-backends-password", "SELECT 1");
    assertMatch(
      refused.stderr,
      new RegExp(`FATAL: +password authentication failed for user "${ROLES.plain[0]}"`),
    );
    const noDatabase = await psqlAs(target, TEST_USER, TEST_PASSWORD, "SELECT 1", "dbname=nope");
    assertMatch(noDatabase.stderr, /FATAL: +database "nope" does not exist/);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  // Refused before its AuthenticationOk (pgtls's login) or after it (the
  // relay's watch): the same reason, with the backend's SQLSTATE, at warn.
  const lines = sessions(pgtls);
  assertEquals([lines[0]!.reason, lines[0]!.sqlstate, lines[0]!.level], [
    "backend_refused",
    "28P01",
    "warn",
  ]);
  assertMatch(
    String(lines[0]!.error),
    /the backend refused the login: password authentication failed/,
  );
  assertEquals([lines[1]!.reason, lines[1]!.sqlstate, lines[1]!.level], [
    "backend_refused",
    "3D000",
    "warn",
  ]);
  assertEquals([lines[1]!.auth, lines[1]!.backend_auth], [
    "scram-sha-256-plus",
    "scram-sha-256-plus",
  ]);
});

Deno.test("with a plaintext entry pgtls answers md5, cleartext and trusting backends", async () => {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  const users = await writeUsersFile(dir, [
    [ROLES.md5[0], ROLES.md5[1]],
    [ROLES.clear[0], ROLES.clear[1]],
    [ROLES.trust[0], await secretOf(pg, ROLES.trust[0])],
    // A SCRAM secret cannot answer md5.
    ["auth_md5_scram", await otherSecret("x")],
  ]);
  await createRole(pg, "auth_md5_scram", "x");
  await addHbaLines(pg, ["host all auth_md5_scram 127.0.0.1/32 md5"]);
  await pg.sql(`SET password_encryption = 'md5'; ALTER ROLE auth_md5_scram PASSWORD 'x'`);
  const { pgtls, target } = await withAuth({ users_file: users });
  try {
    for (const [user, password] of [ROLES.md5, ROLES.clear, ROLES.trust]) {
      const result = await psqlAs(target, user, password, "SELECT current_user");
      assertEquals([result.code, result.stdout.trim()], [0, user], result.stderr);
    }
    const scramForMd5 = await psqlAs(target, "auth_md5_scram", "x", "SELECT 1");
    assertMatch(
      scramForMd5.stderr,
      /FATAL: +pgtls: backend .*: the backend asks for an md5 password and pgtls holds only a SCRAM secret for user "auth_md5_scram"/,
    );
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  assertEquals(
    sessions(pgtls).map((l) => [l.user, l.backend_auth ?? null, l.reason]),
    [
      [ROLES.md5[0], "md5", "closed"],
      [ROLES.clear[0], "password", "closed"],
      [ROLES.trust[0], "trust", "closed"],
      ["auth_md5_scram", null, "backend_auth_failed"],
    ],
  );
});

Deno.test("non-ASCII plaintext passwords get SASLprep as PostgreSQL gives them", async () => {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  const users = await writeUsersFile(dir, NON_ASCII.map(([user, password]) => [user, password]));
  const { pgtls, target } = await withAuth({ users_file: users });
  try {
    for (const [user, password] of NON_ASCII) {
      // libpq prepares the password towards pgtls, PostgreSQL prepared it when it stored it.
      const result = await psqlAs(target, user, password, "SELECT current_user");
      assertEquals([result.code, result.stdout.trim()], [0, user], result.stderr);
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("auth.query looks users up in the backend with the name as a parameter, and caches them", async () => {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  const passwordFile = `${dir}/auth-lookup.pw`;
  await Deno.writeTextFile(passwordFile, `${ROLES.lookup[1]}\n`);
  const { pgtls, target } = await withAuth({
    users_file: await standardUsers(),
    query: {
      user: ROLES.lookup[0],
      password_file: passwordFile,
      sql: "SELECT * FROM public.pgtls_user_secret($1)",
      cache_ttl: "10m",
    },
  });
  try {
    // A name that would break SQL spliced into the text.
    const odd = await psqlAs(target, ROLES.odd[0], ROLES.odd[1], "SELECT current_user");
    assertEquals([odd.code, odd.stdout.trim()], [0, ROLES.odd[0]], odd.stderr);
    const wrong = await psqlAs(target, ROLES.odd[0], "wrong", "SELECT 1");
    assertMatch(wrong.stderr, /password authentication failed/);
    const unknown = await psqlAs(target, "nobody_at_all", "x", "SELECT 1");
    assertMatch(unknown.stderr, /FATAL: +password authentication failed for user "nobody_at_all"/);
    // Cached for cache_ttl: a new password is not seen yet.
    await pg.sql(`ALTER ROLE ${ident(ROLES.odd[0])} PASSWORD 'odd-pass-2'`);
    const stale = await psqlAs(target, ROLES.odd[0], "odd-pass-2", "SELECT 1");
    assertMatch(stale.stderr, /password authentication failed/);
  } finally {
    await pg.sql(`ALTER ROLE ${ident(ROLES.odd[0])} PASSWORD ${literal(ROLES.odd[1])}`);
    assertEquals(await pgtls.stop(), 0);
  }
  assertEquals(sessions(pgtls).map((l) => l.reason), [
    "closed",
    "auth_failed",
    "auth_failed",
    "auth_failed",
  ]);
});

Deno.test("auth.query with the default SQL over pg_authid, as a role that may read it", async () => {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  const passwordFile = `${dir}/auth-superuser.pw`;
  await Deno.writeTextFile(passwordFile, TEST_PASSWORD);
  const { pgtls, target } = await withAuth({
    query: { user: TEST_USER, password_file: passwordFile, database: TEST_DATABASE },
  });
  try {
    const result = await psqlAs(target, ROLES.plain[0], ROLES.plain[1], BACKEND_SSL);
    assertEquals([result.code, result.stdout.trim()], [0, "t"], result.stderr);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("auth.query failures are reported clearly: its own login, its SQL", async () => {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  const wrongPassword = `${dir}/auth-wrong.pw`;
  await Deno.writeTextFile(wrongPassword, "not-the-password\n");
  const goodPassword = `${dir}/auth-good.pw`;
  await Deno.writeTextFile(goodPassword, ROLES.lookup[1]);
  const cases = [
    [
      { user: ROLES.lookup[0], password_file: wrongPassword },
      `logging in as "${
        ROLES.lookup[0]
      }" failed: the backend refused the login: password authentication failed`,
    ],
    [
      { user: ROLES.lookup[0], password_file: goodPassword, sql: "SELECT * FROM no_such($1)" },
      "the query failed: function no_such\\(unknown\\) does not exist",
    ],
    [
      { user: ROLES.lookup[0], password_file: goodPassword },
      "the query failed: permission denied for table pg_authid",
    ],
    // A row of another role: its secret must not log this user in.
    [
      {
        user: ROLES.lookup[0],
        password_file: goodPassword,
        sql: "SELECT 'not_' || rolname, rolpassword FROM public.pgtls_user_secret($1)",
      },
      `the query returned the row of role "not_${ROLES.plain[0]}" for user "${ROLES.plain[0]}"`,
    ],
  ] as const;
  for (const [query, logged] of cases) {
    const { pgtls, target } = await withAuth({ query });
    try {
      const result = await psqlAs(target, ROLES.plain[0], ROLES.plain[1], "SELECT 1");
      assertEquals(result.code, 2);
      assertMatch(
        result.stderr,
        new RegExp(`FATAL: +pgtls could not look up user "${ROLES.plain[0]}" in backend`),
      );
      assert(!result.stderr.includes("not-the-password"));
    } finally {
      assertEquals(await pgtls.stop(), 0);
    }
    const [line] = sessions(pgtls);
    assertEquals([line!.reason, line!.level], ["auth_lookup_failed", "warn"]);
    assertMatch(String(line!.error), new RegExp(logged));
  }
});

Deno.test("unlisted_users: passthrough relays users found in neither, as without auth", async () => {
  const { pg } = await fixture();
  await ensureRoles(pg);
  const { pgtls, target } = await withAuth({
    users_file: await standardUsers(),
    unlisted_users: "passthrough",
  });
  try {
    const result = await psqlAs(target, ROLES.md5[0], ROLES.md5[1], "SELECT current_user");
    assertEquals([result.code, result.stdout.trim()], [0, ROLES.md5[0]], result.stderr);
    const listed = await psqlAs(target, TEST_USER, TEST_PASSWORD, "SELECT 1");
    assertEquals(listed.code, 0, listed.stderr);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  assertEquals(sessions(pgtls).map((l) => [l.user, l.auth, l.backend_auth ?? null]), [
    [ROLES.md5[0], "passthrough", null],
    [TEST_USER, "scram-sha-256-plus", "scram-sha-256-plus"],
  ]);
});

Deno.test("a passthrough user whose channel binding fails is told to add the user to pgtls, not to configure auth", async () => {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  const users = await writeUsersFile(dir, [[TEST_USER, await secretOf(pg, TEST_USER)]]);
  const { pgtls, target } = await withAuth({ users_file: users, unlisted_users: "passthrough" });
  try {
    // Not listed: relayed to the TLS backend, where libpq's default prefer binds to pgtls's certificate.
    const result = await psqlAs(target, ROLES.plain[0], ROLES.plain[1], "SELECT 1");
    assertEquals(result.code, 2);
    assertMatch(result.stderr, /SCRAM channel binding check failed/);
    assertMatch(
      result.stderr,
      new RegExp(
        `user "${ROLES.plain[0]}" is not one pgtls authenticates \\(unlisted_users: passthrough\\)`,
      ),
    );
    assertMatch(result.stderr, /add the user to users_file/);
    assert(!result.stderr.includes("configure auth"), result.stderr);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  const [line] = sessions(pgtls);
  assertEquals([line!.auth, line!.reason], ["passthrough", "channel_binding_failed"]);
});

/** Sends SIGHUP and returns the reload log line it causes. */
async function hangUp(pgtls: PgtlsProcess): Promise<LogLine> {
  const reloadLines = () => pgtls.logs.filter((l) => /reload/.test(l.msg));
  const before = reloadLines().length;
  pgtls.kill("SIGHUP");
  await pgtls.waitForLog(() => reloadLines().length > before);
  return reloadLines()[before]!;
}

Deno.test("SIGHUP reloads users_file; a broken one keeps the last good users and logs an error", async () => {
  const { pg } = await fixture();
  await ensureRoles(pg);
  const users = await standardUsers();
  const original = await Deno.readTextFile(users);
  const { pgtls, target } = await withAuth({ users_file: users });
  const [user, password] = ROLES.reload;
  try {
    assertMatch(
      (await psqlAs(target, user, password, "SELECT 1")).stderr,
      /password authentication failed/,
    );
    await Deno.writeTextFile(users, original + usersFile([[user, password]]));
    assertEquals((await hangUp(pgtls)).msg, "configuration reloaded");
    assertEquals((await psqlAs(target, user, password, "SELECT 1")).code, 0);
    await Deno.writeTextFile(users, `${original}"broken\n`);
    const failed = await hangUp(pgtls);
    assertEquals(failed.level, "error");
    assertMatch(
      String(failed.error),
      new RegExp(`auth\\.users_file: ${users} line 3: the user name has no closing quote`),
    );
    assertEquals((await psqlAs(target, user, password, "SELECT 1")).code, 0, "the last good users");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("check and serve refuse md5 secrets, duplicates and malformed lines, naming file and line", async () => {
  const { dir, certs, pg } = await fixture();
  const cases = [
    [`"a" "x"\n"b" "md5${"0".repeat(32)}"\n`, 'line 2: user "b": an md5 secret cannot be used'],
    [`"a" "x"\n# comment\n"a" "y"\n`, 'line 3: user "a" is listed twice'],
    [`"a" "x"\n"b"\n`, "line 2: expected a space after the user name"],
  ] as const;
  for (const [text, problem] of cases) {
    const users = `${dir}/users-bad.txt`;
    await Deno.writeTextFile(users, text);
    const config = `${dir}/auth-bad.yaml`;
    await Deno.writeTextFile(
      config,
      stringify({ proxies: [authProxy(certs, pg.port, { users_file: users })] }),
    );
    for (const command of ["check", "serve"]) {
      const result = await runPgtls([command, "--config", config]);
      assertEquals(result.code, 2, `${command}: ${result.stderr}`);
      assert(
        result.stderr.includes(`proxies[0].auth.users_file: ${users} ${problem}`),
        result.stderr,
      );
      assert(result.stderr.includes(`(in ${config})`), result.stderr);
    }
  }
});

Deno.test("cancel, COPY and pipelining work with auth on", async () => {
  const { dir, pg } = await fixture();
  const { pgtls, target } = await withAuth({ users_file: await standardUsers() });
  try {
    const cancelled = await interruptedSleep(target, (query) => pg.sql(query));
    assertMatch(cancelled.stderr, /canceling statement due to user request/);
    const rows = Array.from({ length: 500 }, (_, i) => `${i}\trow ${i} \u00e9\n`).join("");
    const inFile = `${dir}/auth-copy-in.txt`;
    const outFile = `${dir}/auth-copy-out.txt`;
    await Deno.writeTextFile(inFile, rows);
    const copy = await run("psql", [
      `host=localhost port=${target.port} sslmode=verify-full sslrootcert=${target.caFile} user=${TEST_USER} dbname=${TEST_DATABASE}`,
      "-XAtq",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      "DROP TABLE IF EXISTS auth_copy; CREATE TABLE auth_copy (id int, note text)",
      "-c",
      `\\copy auth_copy FROM '${inFile}'`,
      "-c",
      `\\copy (SELECT * FROM auth_copy ORDER BY id) TO '${outFile}'`,
    ], { env: libpqEnv() });
    assertEquals(copy.code, 0);
    assertEquals(await Deno.readTextFile(outFile), rows);
    const script = `${dir}/auth-pipeline.sql`;
    await Deno.writeTextFile(
      script,
      "\\startpipeline\nSELECT 1;\nSELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\nSELECT 3;\n\\endpipeline\n",
    );
    const bench = await run("pgbench", [
      "-n",
      "-M",
      "extended",
      "-t",
      "20",
      "-f",
      script,
      `host=localhost port=${target.port} sslmode=verify-full sslrootcert=${target.caFile} user=${TEST_USER} dbname=${TEST_DATABASE}`,
    ], { env: libpqEnv() });
    assertMatch(bench.stdout, /number of transactions actually processed: 20\/20/);
    assertMatch(bench.stdout, /number of failed transactions: 0/);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  const lines = sessions(pgtls);
  const cancels = lines.filter((l) => l.reason === "cancel_forwarded");
  assertEquals(cancels.length, 1, "the cancel went through, needing no login");
  const logins = lines.filter((l) => l.reason !== "cancel_forwarded");
  // psql's sleep, psql's COPY, and pgbench (which connects once more to start).
  assert(logins.length >= 3, `${logins.length} logins`);
  for (const line of logins) assertEquals(line.auth, "scram-sha-256-plus");
});

Deno.test("queries pipelined in the same write as the client's last SASL message, one over 1 MiB, reach the backend in order", async () => {
  const { certs } = await fixture();
  const { pgtls } = await withAuth({ users_file: await standardUsers() });
  try {
    const conn = await rawSession({ port: pgtls.port, caFile: certs.proxyCa }, {
      user: TEST_USER,
      database: TEST_DATABASE,
    });
    try {
      const big = `SELECT length('${"x".repeat(2_000_000)}')`;
      const outcome = await rawScram(conn, {
        password: TEST_PASSWORD,
        mechanism: "SCRAM-SHA-256-PLUS",
        gs2Header: "p=tls-server-end-point,,",
        binding: await bindingOfFile(certs.proxy.cert),
        after: concatAll([query("SELECT 'one'"), query(big), query("SELECT 'three'")]),
      });
      assertEquals([outcome.ready, outcome.error], [true, undefined]);
      const rows: string[] = [];
      for (let ready = 0; ready < 3;) {
        const message = await readMessage(conn);
        assert(message !== null && message.type !== "E", JSON.stringify(message?.type));
        if (message.type === "D") rows.push(new TextDecoder().decode(message.body.subarray(6)));
        if (message.type === "Z") ready++;
      }
      assertEquals(rows, ["one", "2000000", "three"]);
    } finally {
      conn.close();
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("passwords and keys appear in no log line, client error, metric or check output; pgtls_auth_total counts", async () => {
  const { dir, certs, pg } = await fixture();
  await ensureRoles(pg);
  const secret = await secretOf(pg, TEST_USER);
  const [, iterations, salt, storedKey, serverKey] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/
    .exec(secret)!;
  const clientKey = (await keysFromSaltedPassword(
    await saltedPassword(
      new TextEncoder().encode(TEST_PASSWORD),
      Uint8Array.from(atob(salt!), (c) => c.charCodeAt(0)),
      Number(iterations),
    ),
  )).clientKey;
  const queryPassword = "query-secret-pw-4711";
  const wrongPassword = "wrong-password-0815";
  const passwordFile = `${dir}/auth-leak.pw`;
  await Deno.writeTextFile(passwordFile, queryPassword);
  const forbidden = [
    TEST_PASSWORD,
    ROLES.plain[1],
    wrongPassword,
    queryPassword,
    secret,
    storedKey!,
    serverKey!,
    toBase64(clientKey),
  ];
  const metricsPort = freePort();
  const pgtls = await startPgtls(dir, {
    metrics: { listen: `127.0.0.1:${metricsPort}` },
    proxies: [authProxy(certs, pg.port, {
      users_file: await standardUsers(),
      query: { user: ROLES.lookup[0], password_file: passwordFile },
    })],
  });
  const target = { port: pgtls.port, caFile: certs.proxyCa };
  const outputs: string[] = [];
  let metrics = "";
  try {
    await pgtls.waitForLog((l) => l.msg === "metrics listening");
    for (
      const [user, password, code] of [
        [TEST_USER, TEST_PASSWORD, 0],
        [ROLES.plain[0], ROLES.plain[1], 0],
        [TEST_USER, wrongPassword, 2],
        [ROLES.plain[0], wrongPassword, 2],
        ["not_listed_anywhere", wrongPassword, 2],
      ] as const
    ) {
      const result = await psqlAs(target, user, password, "SELECT 1");
      assertEquals(result.code, code, result.stderr);
      outputs.push(result.stdout, result.stderr);
    }
    await pgtls.waitForLog(() => sessions(pgtls).length === 5);
    metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  assertMatch(metrics, /pgtls_auth_total\{proxy="main",backend="default",result="ok"\} 2\n/);
  assertMatch(metrics, /pgtls_auth_total\{proxy="main",backend="default",result="failed"\} 2\n/);
  assertMatch(
    metrics,
    /pgtls_auth_total\{proxy="main",backend="default",result="backend_failed"\} 1\n/,
  );
  // A users file refused at load: its error names the line, not the secret on it.
  const broken = `${dir}/users-leak.txt`;
  await Deno.writeTextFile(
    broken,
    `"${TEST_USER}" "${secret}"\n"${ROLES.plain[0]}" "${ROLES.plain[1]}\n`,
  );
  const config = `${dir}/auth-leak.yaml`;
  await Deno.writeTextFile(
    config,
    stringify({ proxies: [authProxy(certs, pg.port, { users_file: broken })] }),
  );
  const check = await runPgtls(["check", "--config", config]);
  assertEquals(check.code, 2);
  assertMatch(check.stderr, /line 2: the secret has no closing quote/);
  const everything = [
    ...pgtls.logs.map((l) => JSON.stringify(l)),
    ...outputs,
    metrics,
    check.stdout,
    check.stderr,
  ].join("\n");
  assert(everything.includes("password authentication failed"), "the outputs were collected");
  for (const text of forbidden) {
    assert(!everything.includes(text), `found a secret in pgtls's output: ${text.slice(0, 4)}…`);
  }
});

Deno.test("the README's SQL dumps a users file that pgtls reads, quotes in names included", async () => {
  const { dir, pg } = await fixture();
  await ensureRoles(pg);
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const sql = /<<'SQL'\n([\s\S]*?)\nSQL\n/.exec(readme)?.[1];
  assert(sql !== undefined, "the README shows the SQL in a heredoc");
  const users = `${dir}/users-dumped.txt`;
  await Deno.writeTextFile(users, `${await pg.sql(sql)}\n`);
  const { pgtls, target } = await withAuth({ users_file: users });
  try {
    for (const [user, password] of [[TEST_USER, TEST_PASSWORD], ROLES.odd] as const) {
      const result = await psqlAs(target, user, password, "SELECT current_user");
      assertEquals([result.code, result.stdout.trim()], [0, user], result.stderr);
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("a client that stalls in the SASL exchange is closed at handshake_timeout", async () => {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startPgtls(dir, {
    proxies: [{
      ...authProxy(certs, pg.port, { users_file: await standardUsers() }),
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        handshake_timeout: "1s",
      },
    }],
  });
  try {
    const conn = await rawSession({ port: pgtls.port, caFile: certs.proxyCa }, {
      user: TEST_USER,
      database: TEST_DATABASE,
    });
    try {
      const offer = await readMessage(conn);
      assertEquals(offer?.type, "R", "AuthenticationSASL");
      // Then nothing: pgtls must not wait for ever (a hang guard far past the 1 s).
      let guard: ReturnType<typeof setTimeout> | undefined;
      const gaveUp = new Promise<"still open">((resolve) =>
        guard = setTimeout(() => resolve("still open"), 30_000)
      );
      const ending = await Promise.race([closed(conn), gaveUp]).finally(() => clearTimeout(guard));
      assertEquals(ending, true, "pgtls closed the connection");
    } finally {
      conn.close();
    }
    const line = await pgtls.waitForLog((l) => l.msg === "session closed");
    assertEquals(line.reason, "handshake_timeout");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("a user name that is not UTF-8 is refused with 08P01, not authenticated under its lossy decoding", async () => {
  const { certs } = await fixture();
  // Decoded lossily, "a\xffb" would be "a\ufffdb": an unknown user then gets the SASL exchange.
  const { pgtls } = await withAuth({ users_file: await standardUsers() });
  try {
    const conn = await connectTls(pgtls.port, certs.proxyCa);
    try {
      const startup = packet(
        3 << 16,
        "user\0a",
        Uint8Array.of(0xff),
        `b\0database\0${TEST_DATABASE}\0\0`,
      );
      await writeAll(conn, startup);
      const answer = await readMessage(conn);
      assertEquals(answer?.type, "E", "refused before any authentication request");
      const fields = errorFields(answer!.body);
      assertEquals([fields.S, fields.C, fields.M], [
        "FATAL",
        "08P01",
        'invalid byte sequence for encoding "UTF8" in the user name',
      ]);
    } finally {
      conn.close();
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
  const [line] = sessions(pgtls);
  assertEquals([line!.reason, line!.level], ["protocol_violation", "warn"]);
});

/** A SCRAM secret for `password` under a salt of its own and `iterations`. */
async function secretWith(password: string, iterations: number): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const keys = await keysFromSaltedPassword(
    await saltedPassword(new TextEncoder().encode(password), salt, iterations),
  );
  return `SCRAM-SHA-256$${iterations}:${toBase64(salt)}$${toBase64(keys.storedKey)}:${
    toBase64(keys.serverKey)
  }`;
}

Deno.test("the salts pgtls makes survive a new listener key, follow mock_secret_file, and take the users file's iteration count", async () => {
  const { dir, certs, pg } = await fixture();
  await ensureRoles(pg);
  // Most of the users file's secrets have 8192 iterations (PostgreSQL 16's scram_iterations, say).
  const roles = [["auth_iter_a", "iter-pass-a"], ["auth_iter_b", "iter-pass-b"]] as const;
  const entries: [string, string][] = [];
  for (const [name, password] of roles) {
    const secret = await secretWith(password, 8192);
    await createRole(pg, name, null);
    await pg.sql(`ALTER ROLE ${name} PASSWORD ${literal(secret)}`);
    entries.push([name, await secretOf(pg, name)]);
  }
  entries.push([TEST_USER, await secretOf(pg, TEST_USER)], [ROLES.plain[0], ROLES.plain[1]]);
  const users = await writeUsersFile(dir, entries);
  const moreUsers = await writeUsersFile(dir, [...entries, ["auth_added_later", "added-pass"]]);
  const mockSecret = `${dir}/mock-secret.txt`;
  await Deno.writeTextFile(mockSecret, "a secret of the operator's, 32 characters\n");
  // certbot gives the certificate a new key at every renewal.
  const renewed = await makeLeaf(
    dir,
    "proxy-renewed",
    { cert: certs.proxyCa, key: certs.proxyCa.replace(/\.crt$/, ".key") },
    ["localhost"],
  );
  const serverFirsts = async (auth: Record<string, unknown>, cert = certs.proxy) => {
    const pgtls = await startPgtls(dir, {
      proxies: [{
        ...authProxy(certs, pg.port, auth),
        listener: {
          bind_address: "127.0.0.1:0",
          tls: { cert_file: cert.cert, key_file: cert.key },
        },
      }],
    });
    const attempt = async (user: string) => {
      const conn = await rawSession({ port: pgtls.port, caFile: certs.proxyCa }, {
        user,
        database: TEST_DATABASE,
      });
      try {
        const outcome = await rawScram(conn, {
          password: "wrong",
          mechanism: "SCRAM-SHA-256",
          gs2Header: "n,,",
        });
        assertEquals(outcome.error?.C, "28P01", user);
        return saltOf(outcome.serverFirst);
      } finally {
        conn.close();
      }
    };
    try {
      return { unknown: await attempt("no_such_user"), plain: await attempt(ROLES.plain[0]) };
    } finally {
      assertEquals(await pgtls.stop(), 0);
    }
  };
  const before = await serverFirsts({ users_file: users });
  assertMatch(before.unknown, /^[A-Za-z0-9+/]{22}==:8192$/);
  assertMatch(before.plain, /^[A-Za-z0-9+/]{22}==:8192$/);
  assertEquals(await serverFirsts({ users_file: users }, renewed), before, "a new listener key");
  const fromFile = await serverFirsts({ users_file: users, mock_secret_file: mockSecret });
  assert(fromFile.unknown !== before.unknown && fromFile.plain !== before.plain);
  assertEquals(
    await serverFirsts({ users_file: moreUsers, mock_secret_file: mockSecret }, renewed),
    fromFile,
    "mock_secret_file: a new user in the users file changes nothing either",
  );
  // The plaintext entry still logs in, with pgtls's salt and 8192 iterations toward its client.
  const { pgtls, target } = await withAuth({ users_file: users, mock_secret_file: mockSecret });
  try {
    for (const [user, password] of [...roles, ROLES.plain]) {
      const result = await psqlAs(target, user, password, "SELECT current_user");
      assertEquals([result.code, result.stdout.trim()], [0, user], result.stderr);
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("check and serve refuse a users_file or password_file that is not UTF-8, naming file and line", async () => {
  const { dir, certs, pg } = await fixture();
  const encoder = new TextEncoder();
  const users = `${dir}/users-latin1.txt`;
  // "pässword" as Latin-1: a lossy decoding would give pgtls another password than the file's.
  await Deno.writeFile(
    users,
    concatAll([encoder.encode('"a" "x"\n"b" "p'), Uint8Array.of(0xe4), encoder.encode('ss"\n')]),
  );
  const goodUsers = await writeUsersFile(dir, [["a", "x"]]);
  const password = `${dir}/auth-latin1.pw`;
  await Deno.writeFile(password, concatAll([encoder.encode("p"), Uint8Array.of(0xe4, 0x0a)]));
  const cases = [
    [{ users_file: users }, `proxies[0].auth.users_file: ${users} line 2: not valid UTF-8`],
    [
      { users_file: goodUsers, query: { user: "q", password_file: password } },
      `proxies[0].auth.query.password_file: ${password} line 1: not valid UTF-8`,
    ],
  ] as const;
  for (const [auth, problem] of cases) {
    const config = `${dir}/auth-latin1.yaml`;
    await Deno.writeTextFile(config, stringify({ proxies: [authProxy(certs, pg.port, auth)] }));
    for (const command of ["check", "serve"]) {
      const result = await runPgtls([command, "--config", config]);
      assertEquals(result.code, 2, `${command}: ${result.stderr}`);
      assert(result.stderr.includes(problem), result.stderr);
    }
  }
});
