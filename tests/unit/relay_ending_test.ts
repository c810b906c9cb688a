/**
 * How a relay ends at shutdown when the client may have a last message:
 * what the adapters do to their sockets is tested on every runtime in
 * lifecycle_test.ts; the order of events is tested here.
 */

import { RelayEnding } from "../../src/proxy/relay_ending.ts";
import type { RelayEnd } from "../../src/io/types.ts";
import { assert, assertEquals } from "../helpers/assert.ts";

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
          return canPart ? Uint8Array.of(0x45) : null;
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
  farewell: () => Uint8Array.of(0x45),
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
