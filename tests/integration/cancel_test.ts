import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { startProxyTo } from "../helpers/pgtls.ts";
import { interruptedSleep } from "../helpers/clients.ts";

/** psql's Ctrl-C on `SELECT pg_sleep(30)` through pgtls must cancel the query. */
async function cancelThroughPgtls(backendTls: boolean) {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startProxyTo({ dir, certs }, pg.port, backendTls);
  try {
    const target = { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" };
    const { stderr, code } = await interruptedSleep(target, pg.sql.bind(pg));
    assertMatch(stderr, /canceling statement due to user request/);
    assertEquals(code, 1);
    const cancel = await pgtls.waitForLog((l) => l.reason === "cancel_forwarded");
    assertEquals(cancel.msg, "session closed");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
}

Deno.test("psql's Ctrl-C cancels a query through pgtls to a TLS backend", () =>
  cancelThroughPgtls(true));

Deno.test("psql's Ctrl-C cancels a query through pgtls to a plaintext backend", () =>
  cancelThroughPgtls(false));
