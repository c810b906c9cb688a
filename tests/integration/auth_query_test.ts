/**
 * What unauthenticated clients can make the auth query cost the backend:
 * every client whose user is not cached makes pgtls look the user up, in a
 * backend connection of its own, before any proof is checked.
 *
 * @module
 */

import { assertEquals } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { type PgtlsProcess, startPgtls } from "../helpers/pgtls.ts";
import { TEST_DATABASE, TEST_PASSWORD, TEST_USER } from "../helpers/pg.ts";
import { authProxy } from "../helpers/auth.ts";
import { rawSession } from "../helpers/scram_wire.ts";
import { settle } from "../helpers/settle.ts";

/**
 * A lookup SQL whose lookups count themselves (a sequence: not undone when
 * a lookup's transaction is) and then wait until the test opens the gate.
 */
const SETUP = `
  CREATE TABLE IF NOT EXISTS public.pgtls_lookup_gate (open boolean NOT NULL);
  DROP SEQUENCE IF EXISTS public.pgtls_lookups_started;
  CREATE SEQUENCE public.pgtls_lookups_started;
  CREATE OR REPLACE FUNCTION public.pgtls_lookup_probe(name text) RETURNS text
    LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM nextval('public.pgtls_lookups_started');
      WHILE NOT EXISTS (SELECT FROM public.pgtls_lookup_gate WHERE open) LOOP
        PERFORM pg_sleep(0.02);
      END LOOP;
      RETURN name;
    END $$;
`;

const LOOKUP_SQL = "WITH probe AS MATERIALIZED (SELECT public.pgtls_lookup_probe($1) AS name) " +
  "SELECT a.rolname, a.rolpassword FROM probe JOIN pg_catalog.pg_authid a ON a.rolname = probe.name";

/** The bound pgtls keeps on lookups in flight toward one backend. */
const LOOKUPS_PER_BACKEND = 4;

Deno.test("made-up users cannot make pgtls open more than 4 lookups at once, and lookups whose clients gave up never start", async () => {
  const { dir, certs, pg } = await fixture();
  const sql = (query: string) => pg.sql(query, TEST_DATABASE);
  await sql(SETUP);
  await sql("DELETE FROM public.pgtls_lookup_gate");
  const passwordFile = `${dir}/lookup-bound.pw`;
  await Deno.writeTextFile(passwordFile, TEST_PASSWORD);
  const started = async () =>
    Number(
      await sql(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.pgtls_lookups_started",
      ),
    );
  const active = async () =>
    Number(
      await sql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgtls auth query' AND state = 'active'",
      ),
    );
  const proxy = authProxy(certs, pg.port, {
    query: {
      user: TEST_USER,
      password_file: passwordFile,
      database: TEST_DATABASE,
      sql: LOOKUP_SQL,
    },
  });
  const pgtls: PgtlsProcess = await startPgtls(dir, {
    proxies: [{
      ...proxy,
      // A lookup waits at the gate as long as the test keeps it shut.
      backend: { ...proxy.backend as Record<string, unknown>, connect_timeout: "60s" },
      listener: {
        bind_address: "127.0.0.1:0",
        tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        // Clients give up long before a lookup would (connect_timeout below).
        handshake_timeout: "2s",
      },
    }],
  });
  const connect = { port: pgtls.port, caFile: certs.proxyCa };
  const clients: Deno.TlsConn[] = [];
  try {
    const made = Array.from({ length: 12 }, (_, i) => `ghost_${i}`);
    clients.push(
      ...await Promise.all(
        made.map((user) => rawSession(connect, { user, database: TEST_DATABASE })),
      ),
    );
    // The bound is reached: four lookups wait at the gate.
    assertEquals(
      await settle(active, (n) => n >= LOOKUPS_PER_BACKEND, 30_000),
      LOOKUPS_PER_BACKEND,
    );
    // Every client gives up at handshake_timeout while the gate is shut.
    await pgtls.waitForLog(
      () => pgtls.logs.filter((l) => l.msg === "session closed").length === made.length,
      30_000,
    );
    // Only the four ever started: the other clients left while their lookups were queued.
    assertEquals(await started(), LOOKUPS_PER_BACKEND);
    assertEquals(await active(), LOOKUPS_PER_BACKEND);
    await sql("INSERT INTO public.pgtls_lookup_gate VALUES (true)");
    assertEquals(await settle(active, (n) => n === 0, 30_000), 0);
    assertEquals(await started(), LOOKUPS_PER_BACKEND);
    // Clients of the same user share one lookup.
    await sql("DELETE FROM public.pgtls_lookup_gate");
    const same = await Promise.all(
      [1, 2, 3].map(() => rawSession(connect, { user: "ghost_shared", database: TEST_DATABASE })),
    );
    clients.push(...same);
    assertEquals(await settle(active, (n) => n >= 1, 30_000), 1);
    await pgtls.waitForLog(
      () => pgtls.logs.filter((l) => l.msg === "session closed").length === made.length + 3,
      30_000,
    );
    assertEquals(await started(), LOOKUPS_PER_BACKEND + 1);
    await sql("INSERT INTO public.pgtls_lookup_gate VALUES (true)");
    assertEquals(await settle(active, (n) => n === 0, 30_000), 0);
  } finally {
    await sql("INSERT INTO public.pgtls_lookup_gate VALUES (true)");
    for (const conn of clients) conn.close();
    assertEquals(await pgtls.stop(), 0);
  }
  const ends = pgtls.logs.filter((l) => l.msg === "session closed").map((l) => l.reason);
  assertEquals(new Set(ends), new Set(["handshake_timeout"]));
});
