/**
 * The relay's policies, on in-memory connections (`memory_push_conn.ts`):
 * forwarding and counting, backpressure both ways, half-close both ways,
 * errors on either side, the farewell (and when the client has heard from
 * the backend, where the Bun and node:tls copies this relay replaced
 * differed), the client's Terminate, shutdown's last message and its grace,
 * the tap. The adapters' sockets under it are tested on every runtime by the
 * integration tests (backpressure, drain, session_log, backend_failures).
 */

import { relay, type RelayPolicies } from "../../src/proxy/relay.ts";
import type { RelayCounters, RelayTap, ShutdownNotice } from "../../src/io/types.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { MemoryPushConn } from "./memory_push_conn.ts";
import { message, terminate } from "../helpers/packets.ts";
import { ERROR_RESPONSE } from "../../src/protocol/codes.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);
const filled = (length: number, value: number) => new Uint8Array(length).fill(value);
/** A Terminate message: what a client sends last. */
const TERMINATE = terminate();
const FAREWELL = message(ERROR_RESPONSE);

function counters(backendToClient = 0): RelayCounters {
  return { clientToBackend: 0, backendToClient, peakBuffered: 0 };
}

/** Waits until the microtasks queued so far (a closeWrite's `then`) have run. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Starts a relay between two fresh connections (or those given). */
function start(
  policies: RelayPolicies = {},
  options: {
    client?: MemoryPushConn;
    backend?: MemoryPushConn;
    counters?: RelayCounters;
    signal?: AbortSignal;
  } = {},
) {
  const client = options.client ?? new MemoryPushConn();
  const backend = options.backend ?? new MemoryPushConn();
  const count = options.counters ?? counters();
  const outcome = relay(
    client,
    backend,
    count,
    options.signal ?? new AbortController().signal,
    policies,
  );
  return { client, backend, counters: count, outcome };
}

/** A farewell that records its calls and says FAREWELL. */
function recordingFarewell() {
  const calls: { end: string; error?: Error }[] = [];
  const farewell = (end: "backend_closed" | "backend_error", error?: Error) => {
    calls.push({ end, error });
    return FAREWELL;
  };
  return { calls, farewell };
}

/** A shutdown notice whose last message is `last`, recording what it saw. */
function recordingNotice(last: Uint8Array | null, graceMs = 60_000) {
  const fromClient: Uint8Array[] = [];
  const forwarded: Uint8Array[] = [];
  const notice: ShutdownNotice = {
    graceMs,
    fromClient: (chunk) => void fromClient.push(chunk),
    forwarded: (chunk) => void forwarded.push(chunk),
    last: () => last,
  };
  return { notice, fromClient, forwarded };
}

Deno.test("the relay forwards each side's chunks to the other, counts them, and caps only the client's records", async () => {
  const { client, backend, counters, outcome } = start();
  client.peerSends(bytes(1, 2, 3));
  backend.peerSends(bytes(4, 5));
  backend.peerSends(bytes(6));
  assertEquals(backend.deliveredBytes, bytes(1, 2, 3));
  assertEquals(client.deliveredBytes, bytes(4, 5, 6));
  assertEquals([counters.clientToBackend, counters.backendToClient], [3, 3]);
  assert(client.capped && !backend.capped, "the client's records are capped, the backend's not");
  client.peerEnds();
  assertEquals((await outcome).end, "client_closed");
  assertEquals(counters.peakBuffered, 0, "a peer that keeps up holds nothing");
});

Deno.test("a full backend holds the client's reading until it drains, and the peak is what it held", async () => {
  const { client, backend, counters, outcome } = start({}, {
    backend: new MemoryPushConn(0),
  });
  client.peerSends(filled(100, 1));
  assert(client.held, "the client is held while the backend is full");
  client.peerSends(filled(50, 2));
  assertEquals(client.unread, 1, "nothing more is read from the client meanwhile");
  assertEquals(backend.delivered.length, 0);
  backend.peerReads();
  assert(!client.held, "the drain released the client");
  assertEquals(client.unread, 0);
  assertEquals(backend.deliveredBytes, new Uint8Array([...filled(100, 1), ...filled(50, 2)]));
  client.peerEnds();
  await outcome;
  assertEquals(counters.peakBuffered, 100);
});

Deno.test("a full client holds the backend's reading until it drains", async () => {
  const { client, backend, counters, outcome } = start({}, {
    client: new MemoryPushConn(10),
  });
  backend.peerSends(filled(8, 1));
  assert(!backend.held, "there was room for the first chunk");
  backend.peerSends(filled(8, 2));
  assert(backend.held, "the backend is held once the client has no room");
  backend.peerSends(filled(8, 3));
  assertEquals(backend.unread, 1);
  client.peerReads();
  assert(!backend.held);
  assertEquals(client.deliveredBytes.length, 24);
  assertEquals(counters.backendToClient, 24);
  client.peerEnds();
  await outcome;
  assertEquals(counters.peakBuffered, 8);
});

Deno.test("a client that ends its side: the backend is ended only after what was queued for it, then the relay ends client_closed", async () => {
  const { client, backend, outcome } = start({}, { backend: new MemoryPushConn(0) });
  let done = false;
  void outcome.then(() => done = true);
  client.peerSends(bytes(1, 2));
  client.peerEnds();
  await settle();
  assert(!backend.peerSawEnd, "no end before the queued bytes");
  assert(!done, "the relay waits for the backend's flush");
  backend.peerReads();
  assertEquals((await outcome).end, "client_closed");
  assert(backend.peerSawEnd, "the backend saw the end");
  assertEquals(backend.deliveredBytes, bytes(1, 2), "nothing the client sent is lost");
  assert(client.closed && backend.closed, "both connections are closed");
});

Deno.test("a backend that ends after the client heard from it: the client gets everything, then its end, backend_closed, no farewell", async () => {
  const { calls, farewell } = recordingFarewell();
  const { client, backend, outcome } = start({ farewell }, { client: new MemoryPushConn(0) });
  backend.peerSends(bytes(7, 8));
  backend.peerEnds();
  await settle();
  assert(!client.peerSawEnd, "no end before the queued bytes");
  client.peerReads();
  assertEquals(await outcome, { end: "backend_closed", error: undefined });
  assertEquals(client.deliveredBytes, bytes(7, 8));
  assert(client.peerSawEnd);
  assertEquals(calls.length, 0, "no farewell for a client that heard from the backend");
});

Deno.test("a client's connection error ends the relay client_error with that error, both sides closed", async () => {
  const { client, backend, outcome } = start();
  const reset = new Error("Connection reset by peer");
  client.peerFails(reset);
  assertEquals(await outcome, { end: "client_error", error: reset });
  assert(client.closed && backend.closed);
});

Deno.test("a backend's error after the client heard from it ends backend_error with that error, without a farewell", async () => {
  const { calls, farewell } = recordingFarewell();
  const { client, backend, outcome } = start({ farewell });
  backend.peerSends(bytes(1));
  const reset = new Error("Connection reset by peer");
  backend.peerFails(reset);
  assertEquals(await outcome, { end: "backend_error", error: reset });
  assertEquals(calls.length, 0);
  assertEquals(client.deliveredBytes, bytes(1), "nothing added after the backend's bytes");
  assert(client.closed && backend.closed);
});

Deno.test("a backend that ends before the client heard from it: the client gets the farewell, then its end", async () => {
  const { calls, farewell } = recordingFarewell();
  const backend = new MemoryPushConn();
  backend.peerEnds();
  const { client, outcome } = start({ farewell }, { backend });
  assertEquals((await outcome).end, "backend_closed");
  assertEquals(calls, [{ end: "backend_closed", error: undefined }]);
  assertEquals(client.deliveredBytes, FAREWELL);
  assert(client.peerSawEnd, "the client was ended after it");
  assert(backend.closed, "the backend was dropped");
});

Deno.test("a backend that fails before the client heard from it: the farewell is told its error", async () => {
  const { calls, farewell } = recordingFarewell();
  const { client, backend, outcome } = start({ farewell });
  const alert = new Error("tlsv1 alert unknown ca");
  backend.peerFails(alert);
  assertEquals(await outcome, { end: "backend_error", error: alert });
  assertEquals(calls, [{ end: "backend_error", error: alert }]);
  assertEquals(client.deliveredBytes, FAREWELL);
  assert(backend.closed);
});

// Where the two relays this one replaced differed: Bun's said the client
// had heard from the backend once any of its bytes were counted; the
// node:tls one also when the client's writable side had ended. These pin
// down the rule the core relay keeps.

Deno.test("bytes the client had from the backend before the relay count as heard: no farewell", async () => {
  const { calls, farewell } = recordingFarewell();
  const { client, backend, outcome } = start({ farewell }, { counters: counters(12) });
  backend.peerEnds();
  assertEquals((await outcome).end, "backend_closed");
  assertEquals(calls.length, 0);
  assertEquals(client.delivered.length, 0);
  assert(client.peerSawEnd);
});

Deno.test("a client that ended its side first gets no farewell when the backend then ends", async () => {
  const { calls, farewell } = recordingFarewell();
  const { client, backend, outcome } = start({ farewell });
  client.peerEnds();
  // Before the relay has finished: the backend's end reaches the relay too.
  backend.peerEnds();
  assertEquals((await outcome).end, "client_closed");
  assertEquals(calls.length, 0);
  assertEquals(client.delivered.length, 0, "nothing is sent to a client that has ended");
});

Deno.test("a backend whose only bytes the tap held back has not been heard from: the farewell still comes", async () => {
  const { calls, farewell } = recordingFarewell();
  const tap: RelayTap = {
    active: true,
    fromClient: () => {},
    fromBackend: () => new Uint8Array(0),
  };
  const { client, backend, counters, outcome } = start({ farewell, tap });
  backend.peerSends(bytes(0x52, 0, 0));
  backend.peerEnds();
  assertEquals((await outcome).end, "backend_closed");
  assertEquals(counters.backendToClient, 0);
  assertEquals(calls.length, 1);
  assertEquals(client.deliveredBytes, FAREWELL);
});

Deno.test("a backend that ends and then fails: the client gets one farewell, all of it, before its end", async () => {
  const { calls, farewell } = recordingFarewell();
  const { client, backend, outcome } = start({ farewell }, { client: new MemoryPushConn(0) });
  backend.peerEnds();
  backend.peerFails(new Error("late reset"));
  assert(!client.closed, "the late failure does not cut the farewell short");
  client.peerReads();
  assertEquals((await outcome).end, "backend_closed");
  assertEquals(calls.length, 1);
  assertEquals(client.deliveredBytes, FAREWELL);
});

Deno.test("after the client's Terminate, a backend that closes first ends the relay client_closed, with no farewell", async () => {
  const { calls, farewell } = recordingFarewell();
  const { client, backend, outcome } = start({ farewell });
  client.peerSends(TERMINATE);
  backend.peerEnds();
  assertEquals((await outcome).end, "client_closed");
  assertEquals(calls.length, 0);
  assertEquals(backend.deliveredBytes, TERMINATE);
  assertEquals(client.delivered.length, 0);
});

Deno.test("shutdown with a last message: the backend is dropped, the client gets the message, is ended and read away, and the relay ends aborted once it closes", async () => {
  const shutdown = new AbortController();
  const last = message(ERROR_RESPONSE, new Uint8Array(5));
  const seen = recordingNotice(last);
  const { client, backend, outcome } = start({ notice: seen.notice }, {
    backend: new MemoryPushConn(0),
    signal: shutdown.signal,
  });
  client.peerSends(bytes(1));
  assert(client.held, "held by the full backend");
  backend.peerSends(bytes(2, 3));
  let done = false;
  void outcome.then(() => done = true);
  shutdown.abort();
  assert(backend.closed, "the backend is dropped first");
  assertEquals(client.deliveredBytes, new Uint8Array([2, 3, ...last]));
  await settle();
  assert(client.peerSawEnd, "the client is ended after the message");
  assert(!client.held, "the client is read away, not held");
  client.peerSends(bytes(4));
  assertEquals(client.unread, 0);
  assertEquals(backend.deliveredBytes.length, 0, "nothing reaches the dropped backend");
  assert(!done, "the relay waits for the client to close");
  client.peerCloses();
  assertEquals(await outcome, { end: "aborted", error: undefined });
  assertEquals(seen.fromClient, [bytes(1)], "the notice saw the client's chunk");
  assertEquals(seen.forwarded, [bytes(2, 3)], "and the backend's");
});

Deno.test("shutdown's last message still queued for a client that half-closes is delivered whole before the client is closed", async () => {
  const shutdown = new AbortController();
  const last = message(ERROR_RESPONSE, new Uint8Array(20));
  const { client, outcome } = start({ notice: recordingNotice(last).notice }, {
    client: new MemoryPushConn(10),
    signal: shutdown.signal,
  });
  let done = false;
  void outcome.then(() => done = true);
  shutdown.abort();
  assertEquals(client.deliveredBytes.length, 0, "the message waits for room at the client");
  client.peerEnds();
  await settle();
  assert(!client.closed && !done, "the client's end does not cut its last message short");
  client.peerReads();
  assertEquals(client.deliveredBytes, last);
  await settle();
  assert(client.peerSawEnd, "the client is ended after the message");
  client.peerCloses();
  assertEquals(await outcome, { end: "aborted", error: undefined });
});

Deno.test("shutdown's grace bounds a client that never closes after its last message", async () => {
  const shutdown = new AbortController();
  const { client, outcome } = start({ notice: recordingNotice(bytes(1), 1).notice }, {
    signal: shutdown.signal,
  });
  shutdown.abort();
  assertEquals((await outcome).end, "aborted");
  assert(client.closed, "closed when the grace ran out");
});

Deno.test("shutdown in the middle of one of the backend's messages closes both sides at once, without a word", async () => {
  const shutdown = new AbortController();
  const { client, backend, outcome } = start({ notice: recordingNotice(null).notice }, {
    signal: shutdown.signal,
  });
  shutdown.abort();
  assertEquals((await outcome).end, "aborted");
  assert(client.closed && backend.closed);
  assertEquals(client.delivered.length, 0);
});

Deno.test("a shutdown that came before the relay started ends it aborted without reading either side", async () => {
  const shutdown = new AbortController();
  shutdown.abort();
  const client = new MemoryPushConn();
  client.peerSends(bytes(1));
  const { backend, outcome } = start({}, { client, signal: shutdown.signal });
  assertEquals((await outcome).end, "aborted");
  assertEquals(client.unread, 1, "the client was not read");
  assertEquals(backend.delivered.length, 0);
  assert(client.closed && backend.closed);
});

Deno.test("the tap sees the client's chunks and rewrites the backend's while active, and is not consulted after", async () => {
  const seen: Uint8Array[] = [];
  let consulted = 0;
  const tap = {
    active: true,
    fromClient: (chunk: Uint8Array) => void seen.push(chunk),
    fromBackend: (chunk: Uint8Array) => {
      consulted++;
      return chunk.map((byte) => byte + 1);
    },
  };
  const { client, backend, counters, outcome } = start({ tap });
  client.peerSends(bytes(1));
  backend.peerSends(bytes(1, 2));
  tap.active = false;
  client.peerSends(bytes(9));
  backend.peerSends(bytes(5));
  assertEquals(seen, [bytes(1)]);
  assertEquals(consulted, 1);
  assertEquals(client.deliveredBytes, bytes(2, 3, 5));
  assertEquals(backend.deliveredBytes, bytes(1, 9));
  assertEquals(counters.backendToClient, 3, "bytes are counted as forwarded");
  client.peerEnds();
  await outcome;
});
