import { MessageBoundary } from "../../src/protocol/message_boundary.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { encodeErrorResponse } from "../../src/protocol/error_response.ts";
import { assert, assertEquals } from "../helpers/assert.ts";

/** A message of `type` with a body of `size` bytes. */
function message(type: string, size: number): Uint8Array {
  const bytes = new Uint8Array(5 + size).fill(0x5a);
  bytes[0] = type.charCodeAt(0);
  new DataView(bytes.buffer).setUint32(1, 4 + size);
  return bytes;
}

/** Whether the tracker is at a boundary after each byte of `stream`, split at every offset. */
function boundariesAfterEachByte(stream: Uint8Array): boolean[] {
  const seen: boolean[] = [];
  const tracker = new MessageBoundary();
  for (const byte of stream) {
    tracker.push(Uint8Array.of(byte));
    seen.push(tracker.atBoundary);
  }
  return seen;
}

Deno.test("message boundaries: at the end of each whole message, nowhere inside one", () => {
  const messages = [message("T", 30), message("D", 0), message("C", 13), message("Z", 1)];
  const stream = concatAll(messages);
  const ends = new Set<number>();
  let offset = 0;
  for (const m of messages) ends.add(offset += m.length);
  const expected = [...stream].map((_, i) => ends.has(i + 1));
  assertEquals(boundariesAfterEachByte(stream), expected, "byte by byte");
  // Every split into two chunks gives the same verdict at the split and at the end.
  for (let split = 0; split <= stream.length; split++) {
    const tracker = new MessageBoundary();
    tracker.push(stream.subarray(0, split));
    assertEquals(tracker.atBoundary, split === 0 || ends.has(split), `split at ${split}`);
    tracker.push(stream.subarray(split));
    assert(tracker.atBoundary, `whole stream, split at ${split}`);
  }
});

Deno.test("message boundaries: a body far longer than its chunks, and many messages in one chunk", () => {
  const tracker = new MessageBoundary();
  const big = message("d", 1 << 20);
  for (let at = 0; at < big.length; at += 65536) {
    tracker.push(big.subarray(at, at + 65536));
    assertEquals(tracker.atBoundary, at + 65536 >= big.length, `after ${at + 65536}`);
  }
  tracker.push(concatAll(Array.from({ length: 1000 }, (_, i) => message("d", i % 7))));
  assert(tracker.atBoundary);
  tracker.push(encodeErrorResponse({ severity: "FATAL", code: "57P01", message: "x" }));
  assert(tracker.atBoundary, "an ErrorResponse is a message like any other");
});

Deno.test("message boundaries: a length below 4 is not PostgreSQL, so never a boundary again", () => {
  const tracker = new MessageBoundary();
  tracker.push(Uint8Array.of(0x44, 0, 0, 0, 3));
  assert(!tracker.atBoundary);
  tracker.push(message("Z", 1));
  assert(!tracker.atBoundary, "still unknown");
  const split = new MessageBoundary();
  split.push(Uint8Array.of(0x44, 0, 0));
  split.push(Uint8Array.of(0, 2, 0x5a));
  assert(!split.atBoundary, "also when the header was split");
});

Deno.test("message boundaries: a listener hears each message's type and first body byte, however the stream is split", () => {
  const messages = [message("T", 30), message("D", 0), message("C", 13), message("Z", 1)];
  messages[3]![5] = "T".charCodeAt(0);
  const stream = concatAll(messages);
  const expected = [
    ["T", 0x5a],
    ["D", -1],
    ["C", 0x5a],
    ["Z", "T".charCodeAt(0)],
  ];
  for (let split = 0; split <= stream.length; split++) {
    for (let second = split; second <= stream.length; second += 7) {
      const heard: [string, number][] = [];
      const tracker = new MessageBoundary((type, first) =>
        heard.push([String.fromCharCode(type), first])
      );
      tracker.push(stream.subarray(0, split));
      tracker.push(stream.subarray(split, second));
      tracker.push(stream.subarray(second));
      assertEquals(heard, expected, `split at ${split} and ${second}`);
    }
  }
  const byByte: [string, number][] = [];
  const tracker = new MessageBoundary((type, first) =>
    byByte.push([String.fromCharCode(type), first])
  );
  for (const byte of stream) tracker.push(Uint8Array.of(byte));
  assertEquals(byByte, expected, "byte by byte");
});
