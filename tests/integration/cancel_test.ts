import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { startProxyTo } from "../helpers/pgtls.ts";
import { connString, libpqEnv } from "../helpers/clients.ts";

/** Runs `SELECT pg_sleep(30)` with psql through pgtls, then sends psql SIGINT (Ctrl-C). */
async function interruptedSleep(backendTls: boolean) {
  const { dir, certs, pg } = await fixture();
  const pgtls = await startProxyTo({ dir, certs }, pg.port, backendTls);
  try {
    const target = { port: pgtls.port, caFile: certs.proxyCa, extra: "channel_binding=disable" };
    const child = new Deno.Command("psql", {
      args: [connString(target), "-X", "-c", "SELECT pg_sleep(30)"],
      env: libpqEnv(),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Send Ctrl-C once the query runs on the backend.
    await waitUntilRunning(pg.sql.bind(pg));
    child.kill("SIGINT");
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    assertMatch(stderr, /canceling statement due to user request/);
    assertEquals(output.code, 1);
    const cancel = await pgtls.waitForLog((l) => l.reason === "cancel_forwarded");
    assertEquals(cancel.msg, "session closed");
  } finally {
    assertEquals(await pgtls.stop(), 0);
  }
}

/** Polls pg_stat_activity until the sleep is running. */
async function waitUntilRunning(sql: (query: string) => Promise<string>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const count = await sql(
      "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'",
    );
    if (count === "1") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the query never started");
}

Deno.test("psql's Ctrl-C cancels a query through pgtls to a TLS backend", () =>
  interruptedSleep(true));

Deno.test("psql's Ctrl-C cancels a query through pgtls to a plaintext backend", () =>
  interruptedSleep(false));
