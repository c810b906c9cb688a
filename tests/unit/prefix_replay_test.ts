/**
 * The one replay stream (Deno's TLS transport and Bun's direct-TLS fallback)
 * over an in-memory source: the prefix first, then what the connection sent
 * meanwhile, in wire order; nothing before the TLS socket's first tick. Over
 * real TLS it is tested in direct_tls_replay_test.ts and, on every runtime,
 * in tls_conformance_test.ts and listener_certificates_test.ts.
 */

import type tls from "node:tls";
import { prefixReplay, type ReplaySink } from "../../src/runtime/node_tls_shared/prefix_replay.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { settle } from "../helpers/settle.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** A source that records what the stream asks of it. */
function memorySource() {
  const calls: string[] = [];
  let sink: ReplaySink | undefined;
  return {
    calls,
    sink: () => sink!,
    source: {
      attach: (given: ReplaySink) => sink = given,
      hold: () => calls.push("hold"),
      release: () => calls.push("release"),
      write: (_chunk: Uint8Array, done: () => void) => done(),
      end: (done: () => void) => done(),
      destroy: () => calls.push("destroy"),
    },
  };
}

Deno.test("the replay yields the prefix first, then what came before the first tick, reading held meanwhile", async () => {
  const { calls, sink, source } = memorySource();
  const { stream } = prefixReplay(source, bytes("Client"));
  // The rest of the ClientHello, delivered before the TLS socket could take it.
  sink().data(bytes("Hello"));
  assertEquals(calls, ["hold"], "reading held while the bytes wait behind the prefix");
  assertEquals(stream.readableLength, 0, "nothing before the first tick");
  const received: Uint8Array[] = [];
  stream.on("data", (chunk: Uint8Array) => received.push(chunk));
  sink().data(bytes("!"));
  await settle(() => received.length, (n) => n >= 3, 5_000);
  assertEquals(
    new TextDecoder().decode(Uint8Array.from(received.flatMap((c) => [...c]))),
    "ClientHello!",
  );
  assert(calls.includes("release"), "reading goes on once the stream has room");
  sink().data(null);
  await settle(() => stream.readableEnded, (ended) => ended, 5_000);
  stream.destroy();
});

Deno.test("an error the TLS engine throws while reading fails the guarded TLS socket, not the process", async () => {
  const { sink, source } = memorySource();
  const replay = prefixReplay(source, undefined);
  let failed: Error | undefined;
  replay.guard({ destroy: (error?: Error) => failed = error } as unknown as tls.TLSSocket);
  sink().data(bytes("garbage"));
  // Buffered first, so the engine's read comes on a later tick, outside push().
  await settle(() => replay.stream.readableLength, (n) => n > 0, 5_000);
  replay.stream.on("data", () => {
    throw new Error("bad record mac");
  });
  await settle(() => failed, (error) => error !== undefined, 5_000);
  assertEquals(failed?.message, "bad record mac");
  replay.stream.destroy();
});
