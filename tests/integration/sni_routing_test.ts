import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture, plaintextCluster } from "../helpers/fixture.ts";
import { type LogLine, proxyConfig, startPgtls } from "../helpers/pgtls.ts";
import { type ClientTarget, interruptedSleep, psql } from "../helpers/clients.ts";

/** The name in pgtls's test certificate that the route matches. */
const ROUTED_NAME = "proxy.pgtls.test";

/**
 * pgtls in front of two clusters: by default the plaintext one, and the TLS
 * one for clients whose SNI is {@link ROUTED_NAME}.
 */
async function routedProxy(top: Record<string, unknown> = {}) {
  const { dir, certs, pg } = await fixture();
  const plain = await plaintextCluster();
  const routed = proxyConfig(certs, pg.port, true);
  const config = {
    ...proxyConfig(certs, plain.port, false),
    routes: [{ sni: ROUTED_NAME, backend: routed.backend }],
  };
  const pgtls = await startPgtls(dir, { ...top, proxies: [config] });
  // libpq sends the host name as SNI and connects to hostaddr.
  const routedClient: ClientTarget = {
    port: pgtls.port,
    host: ROUTED_NAME,
    caFile: certs.proxyCa,
    extra: "hostaddr=127.0.0.1 channel_binding=disable",
  };
  const defaultClient: ClientTarget = { port: pgtls.port, caFile: certs.proxyCa };
  return { pgtls, pg, routedClient, defaultClient };
}

/** Whether the session's backend connection uses TLS, as that backend sees it. */
const BACKEND_SSL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

Deno.test("SNI picks the route's backend; other names and no match get the default", async () => {
  const { pgtls, routedClient, defaultClient } = await routedProxy();
  try {
    assertEquals((await psql(routedClient, BACKEND_SSL)).stdout.trim(), "t");
    assertEquals((await psql(defaultClient, BACKEND_SSL)).stdout.trim(), "f");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("psql's Ctrl-C reaches the routed backend, though its cancel carries no SNI", async () => {
  const { pgtls, pg, routedClient } = await routedProxy();
  try {
    // libpq 15 sends its CancelRequest in plaintext: only its key says where the session is.
    const { stderr, code } = await interruptedSleep(routedClient, pg.sql.bind(pg));
    assertMatch(stderr, /canceling statement due to user request/);
    assertEquals(code, 1);
    const cancel = await pgtls.waitForLog((l) => l.reason === "cancel_forwarded");
    assertEquals(cancel.backend, `db.pgtls.test (127.0.0.1:${pg.port})`);
    assertEquals(cancel.sni, null);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});

Deno.test("with workers: 2 a Ctrl-C reaches the routed backend from the worker that does not hold the session", async () => {
  const { pgtls, pg, routedClient } = await routedProxy({ workers: 2 });
  try {
    await pgtls.waitForLog((l) => l.msg === "pgtls started");
    // Where a connection lands is up to the kernel (or Node.js's primary), so
    // cancel until one has landed on the other worker: half of them do.
    let crossed = 0;
    for (let attempt = 1; attempt <= 30 && crossed === 0; attempt++) {
      const mark = pgtls.logs.length;
      const { stderr, code } = await interruptedSleep(routedClient, pg.sql.bind(pg));
      assertMatch(stderr, /canceling statement due to user request/, `cancel ${attempt}`);
      assertEquals(code, 1);
      const fresh = (l: LogLine) => pgtls.logs.indexOf(l) >= mark;
      const cancel = await pgtls.waitForLog((l) => fresh(l) && l.reason === "cancel_forwarded");
      const session = await pgtls.waitForLog((l) =>
        fresh(l) && l.msg === "session closed" && l.reason !== "cancel_forwarded"
      );
      if (cancel.worker !== session.worker) crossed++;
    }
    assert(crossed > 0, "a cancel landed on the worker that does not hold its session");
    const warnings = pgtls.logs.filter((l) => l.msg === "cancel not forwarded");
    assertEquals(warnings, []);
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
});
