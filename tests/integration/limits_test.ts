/**
 * pgtls under a small open-file limit: it says at start how many sessions
 * the limit allows, refuses clients beyond that at once (FATAL 53300, or a
 * close when refusals pile up), logs and counts it, and keeps serving the
 * sessions it has.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { fixture } from "../helpers/fixture.ts";
import { spawnPgtls, TARGET } from "../helpers/pgtls.ts";
import { startMockBackend } from "../helpers/mock_backend.ts";
import { freePort } from "../helpers/run.ts";
import {
  connectTls,
  errorFields,
  parseMessages,
  readAll,
  readExactly,
  writeAll,
} from "../helpers/wire.ts";
import { startupMessage } from "../helpers/packets.ts";
import { stringify } from "yaml";
import { readUint32 } from "../../src/protocol/bytes.ts";

/** The hard and soft open-file limit pgtls runs under here. */
const LIMIT = 200;

/** A session through pgtls to the echoing mock backend: startup sent, the relay proven. */
async function openEcho(port: number, caFile: string): Promise<Deno.TlsConn> {
  const conn = await connectTls(port, caFile);
  try {
    await writeAll(conn, startupMessage({ user: "u", database: "d" }));
    await assertEchoes(conn);
  } catch (error) {
    conn.close();
    throw error;
  }
  return conn;
}

async function assertEchoes(conn: Deno.Conn): Promise<void> {
  await writeAll(conn, new TextEncoder().encode("ping"));
  assertEquals(new TextDecoder().decode(await readExactly(conn, 4)), "ping");
}

Deno.test("under a small open-file limit pgtls warns with the numbers, refuses clients beyond what the limit allows at once, and keeps serving the others", async () => {
  const { dir, certs } = await fixture();
  // Reads the startup packet, then echoes whatever comes until the client goes.
  const backend = await startMockBackend(async (conn) => {
    const length = readUint32(await conn.read(4), 0);
    await conn.read(length - 4);
    try {
      for (;;) await conn.write(await conn.read(1));
    } catch {
      // the client went away
    }
  });
  const metricsPort = freePort();
  const config = `${dir}/limits.yaml`;
  await Deno.writeTextFile(
    config,
    stringify({
      log: { level: "info", format: "json" },
      metrics: { listen: `127.0.0.1:${metricsPort}` },
      proxies: [{
        listener: {
          bind_address: "127.0.0.1:0",
          tls: { cert_file: certs.proxy.cert, key_file: certs.proxy.key },
        },
        backend: { address: `127.0.0.1:${backend.port}` },
      }],
    }),
  );
  const pgtls = await spawnPgtls(["--config", config], {
    prefix: ["prlimit", `--nofile=${LIMIT}:${LIMIT}`, "--"],
  });
  const held: Deno.TlsConn[] = [];
  try {
    const warning = await pgtls.waitForLog((l) => String(l.msg).startsWith("max_connections"));
    assertEquals(warning.level, "warn");
    assertMatch(warning.msg, new RegExp(`open-file limit is ${LIMIT}: at most \\d+ sessions`));
    const allowed = Number(/at most (\d+) sessions/.exec(warning.msg)![1]);
    assert(allowed > 0 && allowed < LIMIT / 2, `${allowed} sessions allowed`);

    for (let i = 0; i < allowed; i++) held.push(await openEcho(pgtls.port, certs.proxyCa));

    // One more: refused inside TLS, with why.
    const refused = await connectTls(pgtls.port, certs.proxyCa);
    await writeAll(refused, startupMessage({ user: "u", database: "d" }));
    const messages = parseMessages(await readAll(refused));
    refused.close();
    const error = messages.find((m) => m.type === "E");
    assert(error !== undefined, `an ErrorResponse, got ${messages.map((m) => m.type)}`);
    const fields = errorFields(error.body);
    assertEquals([fields.S, fields.C], ["FATAL", "53300"]);
    assertMatch(fields.M!, /open-file limit: \d+ sessions/);

    // A flood: each is answered with an error or closed, none is left waiting
    // (readAll returns only once pgtls closed it), and pgtls lives on.
    const flood = await Promise.all(
      Array.from({ length: 80 }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: pgtls.port });
        try {
          await writeAll(conn, startupMessage({ user: "u", database: "d" })).catch(() => {});
          return await readAll(conn).catch(() => new Uint8Array(0));
        } finally {
          conn.close();
        }
      }),
    );
    const answers = flood.map((bytes) =>
      bytes.length === 0 ? "closed" : String.fromCharCode(bytes[0]!)
    );
    assertEquals(
      answers.filter((a) => a !== "closed" && a !== "E"),
      [],
      "every flooding client got an ErrorResponse or a close",
    );
    const logged = await pgtls.waitForLog((l) => l.msg.startsWith("refusing clients"));
    assertEquals(logged.level, "error");
    assertEquals(logged.sessions_allowed, allowed);

    // The sessions it had still relay.
    for (const conn of held) await assertEchoes(conn);
    const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const refusals = /pgtls_descriptor_limit_refusals_total\{proxy="main"\} (\d+)/.exec(scrape);
    assert(refusals !== null && Number(refusals[1]) >= 1, scrape);

    // Room again once a session ends.
    held.pop()!.close();
    const again = await settleOpen(pgtls.port, certs.proxyCa);
    held.push(again);
  } finally {
    for (const conn of held) conn.close();
    assertEquals(await pgtls.stop(), 0);
    await backend.close();
  }
});

/** Opens an echo session once pgtls has seen a freed one go (it may take a moment). */
async function settleOpen(port: number, caFile: string): Promise<Deno.TlsConn> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await openEcho(port, caFile);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

Deno.test({
  name:
    "under deno run with narrower permissions than --allow-all pgtls says it cannot read the open-file limit, and serves",
  ignore: TARGET !== "deno",
  async fn() {
    const { certs } = await fixture();
    const backend = await startMockBackend(async (conn) => {
      const length = readUint32(await conn.read(4), 0);
      await conn.read(length - 4);
      await conn.write(await conn.read(4));
    });
    const root = new URL("../../", import.meta.url).pathname;
    // The contract's permissions: Deno 2.9 refuses /proc to them.
    const narrow = ["--allow-net", "--allow-read", "--allow-env", "--allow-sys", "--allow-run"];
    const pgtls = await spawnPgtls([
      "--listen",
      "127.0.0.1:0",
      "--backend",
      `127.0.0.1:${backend.port}`,
      "--cert",
      certs.proxy.cert,
      "--key",
      certs.proxy.key,
    ], { command: [`${root}node_modules/.bin/deno`, ["run", ...narrow, `${root}mod.ts`]] });
    try {
      const warning = await pgtls.waitForLog((l) =>
        l.msg.startsWith("cannot read the open-file limit")
      );
      assertEquals(warning.level, "warn");
      assertMatch(warning.msg, /--allow-all/);
      const conn = await openEcho(pgtls.port, certs.proxyCa);
      conn.close();
    } finally {
      assertEquals(await pgtls.stop(), 0);
      await backend.close();
    }
  },
});
