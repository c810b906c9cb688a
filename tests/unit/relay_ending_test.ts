/**
 * How a relay ends at shutdown when the client may have a last message:
 * what the adapters do to their sockets is tested on every runtime in
 * lifecycle_test.ts; the order of events is tested here.
 */

import { endsWithTerminate, RelayEnding } from "../../src/proxy/relay_ending.ts";
import { connectionErrorText } from "../../src/tls/error_text.ts";
import type { RelayEnd } from "../../src/io/types.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { concat, query, terminate } from "../helpers/packets.ts";
import { ERROR_RESPONSE, TERMINATE } from "../../src/protocol/codes.ts";

/** A relay's ending with counted releases and a notice that has a last message when `canPart`. */
function ending(canPart: boolean) {
  const shutdown = new AbortController();
  let releases = 0;
  let parts = 0;
  let end: RelayEnd | undefined;
  let resolveDone!: (e: RelayEnd) => void;
  const done = new Promise<RelayEnd>((resolve) => resolveDone = resolve);
  const relay = new RelayEnding(
    shutdown.signal,
    () => releases++,
    (e) => {
      end = e;
      resolveDone(e);
    },
    {
      notice: {
        graceMs: 500,
        forwarded: () => {},
        fromClient: () => {},
        last: () => {
          parts++;
          return canPart ? Uint8Array.of(ERROR_RESPONSE) : null;
        },
      },
      sendLast: () => {},
    },
  );
  assert(relay.start());
  return {
    relay,
    shutdown,
    done,
    releases: () => releases,
    parts: () => parts,
    end: () => end,
  };
}

const noFarewell = {
  farewell: () => Uint8Array.of(ERROR_RESPONSE),
  heard: false,
  dropBackend: () => {},
  endClient: () => {
    throw new Error("no farewell may follow the client's last message");
  },
};

Deno.test("shutdown with a last message: the relay waits for the client, not for the backend's errors", async () => {
  const state = ending(true);
  state.shutdown.abort();
  assertEquals(state.parts(), 1);
  assertEquals(state.releases(), 0, "not closed while the message goes out");
  // The dropped backend fails, then closes: neither ends the relay nor brings a farewell.
  state.relay.backendGone("backend_error", new Error("ECONNRESET"), noFarewell);
  state.relay.closed("backend_closed")();
  assertEquals(state.end(), undefined);
  state.relay.closed("client_closed")();
  assertEquals(await state.done, "aborted");
  assertEquals(state.releases(), 1);
});

Deno.test("shutdown with a last message: a client that never closes is closed after the parting time", async () => {
  const state = ending(true);
  state.shutdown.abort();
  assertEquals(await state.done, "aborted");
  assertEquals(state.releases(), 1);
});

Deno.test("shutdown without a last message (mid-message): closed at once", () => {
  const state = ending(false);
  state.shutdown.abort();
  assertEquals(state.parts(), 1);
  assertEquals(state.end(), "aborted");
  assertEquals(state.releases(), 1);
});

Deno.test("shutdown after a side ended: no last message, the first end stands", () => {
  const state = ending(true);
  state.relay.ended("backend_closed", () => {})();
  state.shutdown.abort();
  assertEquals(state.parts(), 0, "the backend had its say");
  assertEquals(state.end(), "backend_closed");
  assertEquals(state.releases(), 1);
});

/** The sides of a backend that closes after the client heard from it. */
const heardBackend = {
  farewell: () => {
    throw new Error("the client heard from the backend: no farewell");
  },
  heard: true,
  dropBackend: () => {},
  endClient: (flushed: () => void) => flushed(),
};

Deno.test("endsWithTerminate() finds a Terminate message at the end of a chunk only", () => {
  const whole = terminate();
  assert(endsWithTerminate(whole));
  assert(endsWithTerminate(concat(query(""), whole)));
  assert(!endsWithTerminate(whole.subarray(1)));
  assert(!endsWithTerminate(Uint8Array.of(...whole, 0)));
  assert(!endsWithTerminate(Uint8Array.of(TERMINATE, 0, 0, 1, 4)));
  assert(!endsWithTerminate(new Uint8Array(0)));
});

Deno.test("a backend that closes after the client's Terminate ends a client_closed session", async () => {
  const state = ending(true);
  state.relay.clientTerminated = true;
  state.relay.backendGone("backend_closed", undefined, heardBackend);
  state.relay.closed("backend_closed")();
  state.relay.closed("client_closed")();
  assertEquals(await state.done, "client_closed");
});

Deno.test("a backend that closes on its own is backend_closed, even after a Terminate-like chunk passed", async () => {
  const state = ending(true);
  state.relay.clientTerminated = true;
  // A later chunk from the client ended otherwise: the session went on.
  state.relay.clientTerminated = false;
  state.relay.backendGone("backend_closed", undefined, heardBackend);
  state.relay.closed("backend_closed")();
  state.relay.closed("client_closed")();
  assertEquals(await state.done, "backend_closed");
});

Deno.test("a client that sent Terminate before the backend answered gets no farewell", async () => {
  const state = ending(true);
  state.relay.clientTerminated = true;
  state.relay.backendGone("backend_closed", undefined, {
    ...noFarewell,
    endClient: (flushed) => flushed(),
  });
  assertEquals(await state.done, "client_closed");
});

Deno.test("a client's connection error ends the relay as client_error and keeps the error", async () => {
  const state = ending(true);
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  state.relay.clientFailed(reset);
  assertEquals(await state.done, "client_error");
  assertEquals(state.relay.error, reset);
  assertEquals(connectionErrorText(reset), "read ECONNRESET");
  assertEquals(
    connectionErrorText(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })),
    "socket hang up (ECONNRESET)",
  );
});

Deno.test("a backend's connection error is kept; an orderly end keeps none", async () => {
  const failed = ending(true);
  const error = new Error("bad record mac");
  failed.relay.backendGone("backend_error", error, heardBackend);
  assertEquals(await failed.done, "backend_error");
  assertEquals(failed.relay.error, error);
  const orderly = ending(true);
  orderly.relay.ended("client_closed", (flushed) => flushed())();
  assertEquals(await orderly.done, "client_closed");
  assertEquals(orderly.relay.error, undefined);
});
