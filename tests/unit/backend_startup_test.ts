/**
 * A session whose backend fails between being opened and answering the
 * startup packet: the session ends as the backend's fault, and the client,
 * which has heard nothing from the backend yet, gets a FATAL it can read.
 * When a real socket fails (on the write, or in the relay) depends on TCP
 * timing, so these run the core, relay included, against in-memory
 * connections; the adapters' part is tested on every runtime in
 * backend_failures_test.ts.
 */

import { runSession } from "../../src/proxy/session.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { errorFields, parseMessages } from "../helpers/wire.ts";
import { startupMessage } from "../helpers/packets.ts";
import { MemoryConn, memoryContext, memoryRuntime, plaintextProxy } from "./memory_session.ts";

/**
 * Runs one plaintext session against `backend` through the relay; `relayed`
 * hears if it started. With `clientEnds` the client ends its side once it
 * has sent its startup packet; otherwise it waits until pgtls ends it.
 */
async function sessionWith(backend: MemoryConn, backendYaml = "", clientEnds = false) {
  let relayed = false;
  const attach = backend.attach.bind(backend);
  backend.attach = (sink) => {
    relayed = true;
    attach(sink);
  };
  const runtime = memoryRuntime({ connect: () => Promise.resolve(backend) });
  const context = memoryContext(plaintextProxy(backendYaml), runtime);
  const client = new MemoryConn([startupMessage([["user", "app"], ["database", "app"]])], {
    ends: clientEnds,
  });
  const record = await runSession(client, 1, context);
  return { record, client, relayed };
}

/** The one ErrorResponse the client got, as fields. */
function onlyError(written: readonly Uint8Array[]): Record<string, string> {
  const messages = parseMessages(concatAll(written));
  assertEquals(messages.map((m) => m.type), ["E"]);
  return errorFields(messages[0]!.body);
}

Deno.test("a backend that hangs up before taking the startup packet is a backend error, and the client is told", async () => {
  const backend = new MemoryConn([], { failWrites: new Error("Broken pipe (os error 32)") });
  const { record, client, relayed } = await sessionWith(backend);
  assertEquals(record.end, "backend_error");
  assertMatch(record.error ?? "", /before the startup packet was sent: Broken pipe/);
  assertEquals(record.counters.clientToBackend, 0, "nothing reached the backend");
  assert(backend.closed, "the backend connection is closed");
  assert(!relayed, "no relay");
  const fields = onlyError(client.written);
  assertEquals([fields.S, fields.C], ["FATAL", "08006"]);
  assertMatch(fields.M ?? "", /^pgtls: backend 127\.0\.0\.1:5999: connection lost/);
});

Deno.test("a backend that closes before the client heard from it: the relay tells the client FATAL 08006, backend_error", async () => {
  const { record, relayed, client } = await sessionWith(new MemoryConn([], { ends: true }));
  assert(relayed, "the relay ran");
  assertEquals(record.end, "backend_error");
  assertEquals(record.error, "closed the connection before answering the startup packet");
  const fields = onlyError(client.written);
  assertEquals([fields.S, fields.C], ["FATAL", "08006"]);
  assertEquals(
    fields.M,
    "pgtls: backend 127.0.0.1:5999: closed the connection before answering the startup packet",
  );
  assertEquals(fields.H, undefined, "no hint without a client certificate");
});

Deno.test("a backend connection that fails before the client heard from it, with a client certificate configured, hints at it", async () => {
  const { record, client } = await sessionWith(
    new MemoryConn([], { failReads: new Error("tlsv1 alert unknown ca") }),
    ", cert_file: proxy.crt, key_file: proxy.key",
  );
  assertEquals(record.end, "backend_error");
  const fields = onlyError(client.written);
  assertMatch(
    fields.M ?? "",
    /before the backend answered the startup packet: tlsv1 alert unknown ca$/,
  );
  assertMatch(fields.H ?? "", /client certificate \(backend\.cert_file\)/);
});

Deno.test("a relay that ends otherwise keeps its own end", async () => {
  const { record, relayed } = await sessionWith(new MemoryConn([]), "", true);
  assert(relayed, "the relay ran");
  assertEquals(record.end, "client_closed");
  assertEquals(record.error, null);
});
