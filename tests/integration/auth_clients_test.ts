/**
 * Real clients with their default settings through pgtls with `auth`, to a
 * TLS backend and to a plaintext one: each logs in (with
 * SCRAM-SHA-256-PLUS where it can), runs a query, a transaction and a COPY
 * round trip, and pg_stat_ssl shows whether the backend leg is encrypted.
 * Without `auth`, libpq's default channel_binding=prefer fails through two
 * TLS legs (scram_test.ts).
 *
 * @module
 */

import { assertEquals } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import { type PgtlsProcess, startPgtls } from "../helpers/pgtls.ts";
import { psql } from "../helpers/clients.ts";
import { TEST_USER } from "../helpers/pg.ts";
import { authProxy, secretOf, writeUsersFile } from "../helpers/auth.ts";
import {
  assertRoundTrip,
  CLIENTS_DIR,
  JDBC_JAR,
  PYTHON,
  runClientProgram,
} from "../helpers/client_programs.ts";

/** Each backend kind: its proxy's name, whether the leg is TLS, how pgtls logs in there. */
const BACKENDS = [
  { name: "tls", tls: true, backendAuth: "scram-sha-256-plus" },
  { name: "plain", tls: false, backendAuth: "scram-sha-256" },
] as const;

/** One pgtls with a proxy per backend kind, each with the test user's secret from its cluster. */
async function startAuthProxies(): Promise<PgtlsProcess> {
  const { dir, certs, pg } = await fixture();
  const plain = await plaintextCluster();
  const proxies = [];
  for (const [backend, cluster] of [[BACKENDS[0], pg], [BACKENDS[1], plain]] as const) {
    const users = await writeUsersFile(dir, [[TEST_USER, await secretOf(cluster, TEST_USER)]]);
    proxies.push({
      name: backend.name,
      ...authProxy(certs, cluster.port, { users_file: users }, backend.tls),
    });
  }
  return await startPgtls(dir, { proxies });
}

/** A client run and the mechanism its client should pick towards pgtls. */
interface ClientCase {
  readonly name: string;
  readonly auth: "scram-sha-256-plus" | "scram-sha-256";
  readonly run: (port: number, caFile: string, backendSsl: boolean) => Promise<void>;
}

const BACKEND_SSL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

const CASES: readonly ClientCase[] = [
  ...["", "channel_binding=require"].map((extra): ClientCase => ({
    name: `psql ${extra || "with default settings"}`,
    auth: "scram-sha-256-plus",
    run: async (port, caFile, backendSsl) => {
      const result = await psql({ port, caFile, extra }, BACKEND_SSL);
      assertEquals(result.stdout.trim(), backendSsl ? "t" : "f");
    },
  })),
  {
    name: "psycopg 3 with libpq's default channel_binding=prefer",
    auth: "scram-sha-256-plus",
    run: async (port, caFile, backendSsl) => {
      const result = await runClientProgram(
        PYTHON,
        [`${CLIENTS_DIR}/psycopg3_client.py`, "psycopg3_auth"],
        { port, caFile },
        { PGTLS_CHANNEL_BINDING: "prefer" },
      );
      assertRoundTrip(result, backendSsl);
    },
  },
  {
    name: "pgjdbc",
    auth: "scram-sha-256",
    run: async (port, caFile, backendSsl) => {
      const result = await runClientProgram(
        "java",
        ["-cp", JDBC_JAR, `${CLIENTS_DIR}/JdbcClient.java`, "pgjdbc_auth"],
        { port, caFile },
      );
      assertRoundTrip(result, backendSsl);
    },
  },
  ...(["on", "off"] as const).map((binding): ClientCase => ({
    name: `node-postgres with enableChannelBinding ${binding}`,
    auth: binding === "on" ? "scram-sha-256-plus" : "scram-sha-256",
    run: async (port, caFile, backendSsl) => {
      const result = await runClientProgram(
        "node",
        [`${CLIENTS_DIR}/node_pg_client.mjs`, `node_pg_auth_${binding}`],
        { port, caFile },
        { PGTLS_CHANNEL_BINDING: binding },
      );
      assertRoundTrip(result, backendSsl);
    },
  })),
  {
    name: "postgres.js",
    auth: "scram-sha-256",
    run: async (port, caFile, backendSsl) => {
      const result = await runClientProgram(
        "node",
        [`${CLIENTS_DIR}/postgres_js_client.mjs`, "postgres_js_auth"],
        { port, caFile },
      );
      assertRoundTrip(result, backendSsl);
    },
  },
];

for (const backend of BACKENDS) {
  Deno.test(`every client logs in through pgtls with auth to a ${backend.name} backend`, async () => {
    const { certs } = await fixture();
    const pgtls = await startAuthProxies();
    const port = pgtls.ports.get(backend.name)!;
    const ran: string[] = [];
    try {
      for (const client of CASES) {
        await client.run(port, certs.proxyCa, backend.tls);
        ran.push(client.name);
      }
    } finally {
      assertEquals(await pgtls.stop(), 0);
    }
    const lines = pgtls.logs.filter((l) => l.msg === "session closed");
    // Each client opens one session; pgjdbc and the others may open none besides.
    assertEquals(lines.length, CASES.length, JSON.stringify(lines));
    assertEquals(
      lines.map((
        l,
      ) => [l.auth, l.backend_auth, l.reason === "client_closed" || l.reason === "backend_closed"]),
      CASES.map((c) => [c.auth, backend.backendAuth, true]),
      ran.join(", "),
    );
  });
}
