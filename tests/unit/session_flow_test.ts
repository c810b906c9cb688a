/**
 * Where a session stands from its message flow (what `GET /sessions` shows
 * and the drain acts on): the backend's ReadyForQuery status, the client's
 * queries still owed an answer, COPY.
 */

import { SessionFlow } from "../../src/proxy/session_flow.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { message as typed } from "../helpers/packets.ts";

/** A message of `type` (its letter) with `body` (a string's bytes, or a size of zeros). */
function message(type: string, body: string | number = 0): Uint8Array {
  return typed(type.charCodeAt(0), typeof body === "string" ? body : new Uint8Array(body));
}

const ready = (status: "I" | "T" | "E") => message("Z", status);
const query = (sql: string) => message("Q", `${sql}\0`);
const sync = () => message("S");
const execute = () => message("E", 9);
const result = () => concatAll([message("T", 20), message("D", 12), message("C", "SELECT 1\0")]);

/** A flow past the login: the backend's first ReadyForQuery `I` has gone to the client. */
function loggedIn(): SessionFlow {
  const flow = new SessionFlow();
  assertEquals(flow.state, "startup");
  flow.forwarded(concatAll([message("R", 4), message("S", "a\0b\0"), message("K", 8)]));
  assertEquals(flow.state, "startup", "no ReadyForQuery yet");
  flow.forwarded(ready("I"));
  assertEquals(flow.state, "idle");
  return flow;
}

Deno.test("session state: idle, active while a query owes its ReadyForQuery, in a transaction by its status", () => {
  const flow = loggedIn();
  flow.fromClient(query("BEGIN"));
  assertEquals(flow.state, "active");
  flow.forwarded(concatAll([message("C", "BEGIN\0"), ready("T")]));
  assertEquals(flow.state, "transaction");
  flow.fromClient(query("SELECT 1"));
  assertEquals(flow.state, "active");
  flow.forwarded(concatAll([result(), ready("T")]));
  assertEquals(flow.state, "transaction");
  flow.fromClient(query("SELECT x"));
  flow.forwarded(concatAll([message("E", 30), ready("E")]));
  assertEquals(flow.state, "transaction", "a failed transaction is still one");
  flow.fromClient(query("ROLLBACK"));
  flow.forwarded(concatAll([message("C", "ROLLBACK\0"), ready("I")]));
  assertEquals(flow.state, "idle");
});

Deno.test("session state: a query pipelined before the previous ReadyForQuery keeps the session active", () => {
  const flow = loggedIn();
  // Extended protocol, two syncs in one write (as pgjdbc and postgres.js pipeline).
  flow.fromClient(concatAll([message("P", 10), message("B", 10), execute(), sync()]));
  flow.fromClient(concatAll([message("B", 10), execute(), sync()]));
  flow.forwarded(concatAll([message("1"), message("2"), result(), ready("I")]));
  assertEquals(flow.state, "active", "the second Sync still owes its ReadyForQuery");
  flow.forwarded(concatAll([message("2"), result(), ready("I")]));
  assertEquals(flow.state, "idle");
});

Deno.test("session state: copy from a CopyIn/CopyOut response until the command completes", () => {
  const flow = loggedIn();
  flow.fromClient(query("COPY t TO STDOUT"));
  flow.forwarded(message("H", 3));
  assertEquals(flow.state, "copy");
  flow.forwarded(concatAll([message("d", 100), message("d", 100)]));
  assertEquals(flow.state, "copy");
  flow.forwarded(concatAll([message("c"), message("C", "COPY 2\0")]));
  assertEquals(flow.state, "active", "the ReadyForQuery is still to come");
  flow.forwarded(ready("I"));
  assertEquals(flow.state, "idle");
  flow.fromClient(query("COPY t FROM STDIN"));
  flow.forwarded(message("G", 3));
  assertEquals(flow.state, "copy");
  flow.fromClient(concatAll([message("d", 1000), message("c")]));
  flow.forwarded(concatAll([message("C", "COPY 1\0"), ready("I")]));
  assertEquals(flow.state, "idle");
});

Deno.test("session state: a Sync sent before COPY FROM STDIN data is ignored by PostgreSQL, and owed nothing", () => {
  const flow = loggedIn();
  // libpq's PQexecParams("COPY t FROM STDIN"): Parse, Bind, Describe, Execute, Sync ...
  flow.fromClient(
    concatAll([message("P", 10), message("B", 10), message("D", 2), execute(), sync()]),
  );
  flow.forwarded(concatAll([message("1"), message("2"), message("n"), message("G", 3)]));
  assertEquals(flow.state, "copy");
  // ... then the data, CopyDone and a Sync of its own, answered by one ReadyForQuery.
  flow.fromClient(concatAll([message("d", 10), message("c"), sync()]));
  flow.forwarded(concatAll([message("C", "COPY 1\0"), ready("I")]));
  assertEquals(flow.state, "idle");
});

Deno.test("session state: extended-protocol messages not yet followed by their Sync keep the session active, and the drain waits for it", async () => {
  const flow = loggedIn();
  // psycopg's pipeline mode: Parse, Bind, Execute and a Flush; the Sync (and the
  // commit of the implicit transaction) comes later.
  flow.fromClient(concatAll([message("P", 10), message("B", 10), execute(), message("H")]));
  flow.forwarded(concatAll([message("1"), message("2"), message("C", "INSERT 0 1\0")]));
  assertEquals(flow.state, "active", "the INSERT is not committed before its Sync");
  let closed = 0;
  flow.drain(() => closed++);
  await Promise.resolve();
  assertEquals(closed, 0, "not idle: closing now would roll the INSERT back");
  flow.fromClient(sync());
  flow.forwarded(ready("I"));
  await Promise.resolve();
  assertEquals(closed, 1, "closed once the Sync is answered");
});

Deno.test("session state: COPY FROM STDIN over the extended protocol is active until the Sync after its CopyDone", () => {
  const flow = loggedIn();
  flow.fromClient(
    concatAll([message("P", 10), message("B", 10), message("D", 2), execute(), sync()]),
  );
  flow.forwarded(concatAll([message("1"), message("2"), message("n"), message("G", 3)]));
  flow.fromClient(concatAll([message("d", 10), message("c")]));
  flow.forwarded(message("C", "COPY 1\0"));
  assertEquals(flow.state, "active", "the COPY commits at the Sync still to come");
  flow.fromClient(sync());
  flow.forwarded(ready("I"));
  assertEquals(flow.state, "idle");
});

Deno.test("drain: an idle session is closed at once; a busy one just after its ReadyForQuery I has gone out", async () => {
  const idle = loggedIn();
  let idleClosed = 0;
  idle.drain(() => idleClosed++);
  assertEquals(idleClosed, 1);
  assert(idle.closedIdle);

  const busy = loggedIn();
  busy.fromClient(query("BEGIN"));
  let closed = 0;
  busy.drain(() => closed++);
  busy.forwarded(concatAll([message("C", "BEGIN\0"), ready("T")]));
  await Promise.resolve();
  assertEquals(closed, 0, "in a transaction: left to finish");
  busy.fromClient(query("COMMIT"));
  busy.forwarded(message("C", "COMMIT\0"));
  const rfq = ready("I");
  busy.forwarded(rfq.subarray(0, 3));
  await Promise.resolve();
  assertEquals(closed, 0, "not inside the ReadyForQuery");
  busy.forwarded(rfq.subarray(3));
  assertEquals(closed, 0, "not before the relay has sent the chunk on");
  await Promise.resolve();
  assertEquals(closed, 1, "closed once idle");
  assert(busy.closedIdle);
  assert(busy.last() !== null, "at a boundary: the client gets FATAL 57P01");

  const pipelined = loggedIn();
  pipelined.fromClient(concatAll([query("SELECT 1"), query("SELECT 2")]));
  let cut = 0;
  pipelined.drain(() => cut++);
  pipelined.forwarded(concatAll([result(), ready("I")]));
  await Promise.resolve();
  assertEquals(cut, 0, "the second query is still owed its answer");
  pipelined.forwarded(concatAll([result(), ready("I")]));
  await Promise.resolve();
  assertEquals(cut, 1);
});

Deno.test("drain: a portal executed with Flush and no Sync yet (pg-cursor) is not idle, and is left to finish", async () => {
  const flow = loggedIn();
  // pg-cursor: Parse, Bind, Describe, Execute(rows), Flush; the Sync comes only when the cursor closes.
  flow.fromClient(
    concatAll([message("P", 10), message("B", 10), message("D", 2), execute(), message("H")]),
  );
  assertEquals(flow.state, "active", "the query runs with no ReadyForQuery owed");
  let closed = 0;
  flow.drain(() => closed++);
  assertEquals(closed, 0, "not closed before the rows come");
  flow.forwarded(concatAll([message("1"), message("2"), message("T", 20), message("D", 12)]));
  flow.forwarded(message("s")); // PortalSuspended: the cursor reads the next rows later
  await Promise.resolve();
  assertEquals(closed, 0, "not closed while the portal is open");
  assertEquals(flow.state, "active");
  flow.fromClient(concatAll([execute(), message("H")]));
  flow.forwarded(message("C", "SELECT 1\0"));
  await Promise.resolve();
  assertEquals(closed, 0, "not closed before the Sync's ReadyForQuery");
  flow.fromClient(concatAll([message("C", 6), sync()]));
  flow.forwarded(concatAll([message("3"), ready("I")]));
  await Promise.resolve();
  assertEquals(closed, 1, "closed once the Sync's ReadyForQuery I has gone out");
});
