import { MessageBoundary } from "../../src/protocol/message_boundary.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { encodeErrorResponse } from "../../src/protocol/error_response.ts";
import {
  COMMAND_COMPLETE,
  COPY_DATA,
  DATA_ROW,
  READY_FOR_QUERY,
  ROW_DESCRIPTION,
} from "../../src/protocol/codes.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { message as typed } from "../helpers/packets.ts";

/** Filler of every body: a byte that is also a type, so that a tracker that slips shows it. */
const FILLER = 0x5a;

/** A message of `type` with a body of `size` filler bytes. */
function message(type: number, size: number): Uint8Array {
  return typed(type, new Uint8Array(size).fill(FILLER));
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
  const messages = [
    message(ROW_DESCRIPTION, 30),
    message(DATA_ROW, 0),
    message(COMMAND_COMPLETE, 13),
    message(READY_FOR_QUERY, 1),
  ];
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
  const big = message(COPY_DATA, 1 << 20);
  for (let at = 0; at < big.length; at += 65536) {
    tracker.push(big.subarray(at, at + 65536));
    assertEquals(tracker.atBoundary, at + 65536 >= big.length, `after ${at + 65536}`);
  }
  tracker.push(concatAll(Array.from({ length: 1000 }, (_, i) => message(COPY_DATA, i % 7))));
  assert(tracker.atBoundary);
  tracker.push(encodeErrorResponse({ severity: "FATAL", code: "57P01", message: "x" }));
  assert(tracker.atBoundary, "an ErrorResponse is a message like any other");
});

Deno.test("message boundaries: a length below 4 is not PostgreSQL, so never a boundary again", () => {
  const tracker = new MessageBoundary();
  tracker.push(Uint8Array.of(DATA_ROW, 0, 0, 0, 3));
  assert(!tracker.atBoundary);
  tracker.push(message(READY_FOR_QUERY, 1));
  assert(!tracker.atBoundary, "still unknown");
  const split = new MessageBoundary();
  split.push(Uint8Array.of(DATA_ROW, 0, 0));
  split.push(Uint8Array.of(0, 2, FILLER));
  assert(!split.atBoundary, "also when the header was split");
});

Deno.test("message boundaries: a listener hears each message's type and first body byte, however the stream is split", () => {
  const messages = [
    message(ROW_DESCRIPTION, 30),
    message(DATA_ROW, 0),
    message(COMMAND_COMPLETE, 13),
    message(READY_FOR_QUERY, 1),
  ];
  messages[3]![5] = ROW_DESCRIPTION;
  const stream = concatAll(messages);
  const expected = [
    ["T", FILLER],
    ["D", -1],
    ["C", FILLER],
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
