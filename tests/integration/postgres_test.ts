import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { NORMAL_ENDS, startPgtls } from "../helpers/pgtls.ts";
import { type ClientTarget, connString, libpqEnv, psql } from "../helpers/clients.ts";
import { TEST_DATABASE, TEST_USER } from "../helpers/pg.ts";
import { run } from "../helpers/run.ts";

const SSL_QUERY = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/** pgtls with two proxies in front of the test cluster: one to TLS, one to plaintext. */
async function twoProxies() {
  const { dir, certs, pg } = await fixture();
  const listener = {
    bind_address: "127.0.0.1:0",
    tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
  };
  const pgtls = await startPgtls(dir, {
    proxies: [
      {
        name: "to_tls",
        listener,
        backend: {
          address: `127.0.0.1:${pg.port}`,
          tls_enabled: true,
          tls_verify: "full",
          ca_file: certs.dbCa,
          server_name: "db.pgtls.test",
        },
      },
      {
        name: "to_plain",
        listener,
        backend: { address: `127.0.0.1:${pg.port}`, tls_enabled: false },
      },
    ],
  });
  const toTls: ClientTarget = {
    port: pgtls.ports.get("to_tls")!,
    caFile: certs.proxyCa,
    // SCRAM channel binding cannot span two TLS sessions with different certificates.
    extra: "channel_binding=disable",
  };
  const toPlain: ClientTarget = { port: pgtls.ports.get("to_plain")!, caFile: certs.proxyCa };
  return { pgtls, toTls, toPlain, pg, certs, dir };
}

Deno.test("psql through pgtls with verify-full reaches a TLS backend over TLS and a plaintext backend without", async () => {
  const { pgtls, toTls, toPlain } = await twoProxies();
  try {
    assertEquals((await psql(toTls, SSL_QUERY)).stdout.trim(), "t");
    assertEquals((await psql(toPlain, SSL_QUERY)).stdout.trim(), "f");
    // The client's side is TLS in both cases: libpq reports it.
    const info = await psql(toPlain, "\\conninfo");
    assertMatch(info.stdout, /SSL connection \(protocol: TLSv1\.[23]/);
    const closed = await pgtls.waitForLog((l) =>
      l.msg === "session closed" && l.proxy === "to_tls"
    );
    assert(NORMAL_ENDS.includes(String(closed.reason)), `reason ${closed.reason}`);
    assertEquals(closed.user, TEST_USER);
    assertEquals(closed.database, TEST_DATABASE);
    assertEquals(closed.sni, "localhost");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("pgbench -S through pgtls: every transaction of 4 clients processed, none failed", async () => {
  const { pgtls, toTls } = await twoProxies();
  const clients = 4;
  const perClient = 500;
  try {
    await run("pgbench", ["-i", "-q", "-s", "1", connString(toTls)], { env: libpqEnv() });
    const result = await run(
      "pgbench",
      ["-S", "-c", String(clients), "-j", "2", "-t", String(perClient), "-n", connString(toTls)],
      { env: libpqEnv() },
    );
    const processed = /number of transactions actually processed: (\d+)/.exec(result.stdout);
    assert(processed !== null, result.stdout);
    assertEquals(Number(processed![1]), clients * perClient, result.stdout);
    const failed = /number of failed transactions: (\d+)/.exec(result.stdout);
    assertEquals(failed?.[1], "0", result.stdout);
    await pgtls.waitForLog(() => pgtls.logs.filter((m) => m.msg === "session closed").length >= 5);
    const abnormal = pgtls.logs.filter((l) =>
      l.msg === "session closed" && !NORMAL_ENDS.includes(String(l.reason))
    );
    assertEquals(abnormal, [], "every pgbench session ends with the client closing");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("COPY of 60 MB out and in through pgtls matches the direct checksum", async () => {
  const { pgtls, toTls, toPlain, pg, dir } = await twoProxies();
  const rows =
    "SELECT i, md5(i::text) || repeat('x', 60) AS payload FROM generate_series(1, 600000) i";
  const direct: ClientTarget = {
    port: pg.port,
    caFile: (await fixture()).certs.dbCa,
    host: "localhost",
    extra: "",
  };
  try {
    const outDirect = `${dir}/copy-direct.txt`;
    await run("psql", [connString(direct), "-XAtq", "-c", `\\copy (${rows}) TO '${outDirect}'`], {
      env: libpqEnv(),
    });
    const size = (await Deno.stat(outDirect)).size;
    assert(size >= 50_000_000, `COPY produced only ${size} bytes`);
    const expected = await sha256(outDirect);
    for (const [name, target] of [["tls", toTls], ["plain", toPlain]] as const) {
      const out = `${dir}/copy-${name}.txt`;
      await run("psql", [connString(target), "-XAtq", "-c", `\\copy (${rows}) TO '${out}'`], {
        env: libpqEnv(),
      });
      assertEquals(await sha256(out), expected, `COPY out through the ${name} proxy`);
      const table = `copy_in_${name}`;
      await psql(
        target,
        `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (i int, payload text)`,
      );
      await run("psql", [connString(target), "-XAtq", "-c", `\\copy ${table} FROM '${out}'`], {
        env: libpqEnv(),
      });
      const back = `${dir}/copy-${name}-back.txt`;
      await run("psql", [
        connString(direct),
        "-XAtq",
        "-c",
        `\\copy (SELECT * FROM ${table} ORDER BY i) TO '${back}'`,
      ], { env: libpqEnv() });
      assertEquals(await sha256(back), expected, `COPY in through the ${name} proxy`);
    }
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
