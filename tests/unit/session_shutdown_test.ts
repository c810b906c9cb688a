/**
 * Shutdown reaching a session before its relay: the client has sent its
 * startup packet and heard nothing, so it is told why (57P01), as a relayed
 * session at a message boundary is (lifecycle_test.ts, on every runtime).
 */

import { runSession } from "../../src/proxy/session.ts";
import type { TcpConn } from "../../src/runtime/types.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { assertEquals } from "../helpers/assert.ts";
import { errorFields, parseMessages } from "../helpers/wire.ts";
import { startupMessage } from "./packets.ts";
import { MemoryConn, memoryContext, memoryRuntime, plaintextProxy } from "./memory_session.ts";

Deno.test("shutdown while the backend is being opened: FATAL 57P01 to the client, ended as shutdown", async () => {
  let dialing!: () => void;
  const dialed = new Promise<void>((resolve) => dialing = resolve);
  // A backend that never answers the connect.
  const runtime = memoryRuntime({
    connect: () => {
      dialing();
      return new Promise<TcpConn>(() => {});
    },
  });
  const shutdown = new AbortController();
  const context = memoryContext(plaintextProxy(), runtime, { signal: shutdown.signal });
  const client = new MemoryConn([startupMessage(3, 0, [["user", "app"]])]);
  const session = runSession(client, 1, context);
  await dialed;
  shutdown.abort();
  const record = await session;
  assertEquals([record.end, record.error], ["shutdown", "pgtls is shutting down"]);
  const messages = parseMessages(concatAll(client.written));
  assertEquals(messages.map((m) => m.type), ["E"]);
  const fields = errorFields(messages[0]!.body);
  assertEquals([fields.S, fields.C], ["FATAL", "57P01"]);
  assertEquals(fields.M, "terminating connection because pgtls is shutting down");
});
