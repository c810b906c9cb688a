/**
 * StartupReader: classification of every first packet, any byte split,
 * leftover bytes, and the stable error codes of malformed packets.
 */

import {
  type StartupErrorCode,
  StartupProtocolError,
  StartupReader,
  type StartupReadResult,
} from "../../src/protocol/startup_reader.ts";
import {
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  SSL_REQUEST_CODE,
} from "../../src/protocol/codes.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  cancelRequest,
  concat,
  fromHex,
  gssencRequest,
  packet,
  parameterBody,
  sslRequest,
  startupMessage,
  tlsClientHelloStart,
  u32,
} from "../helpers/packets.ts";

const encoder = new TextEncoder();

/** Pushes `bytes` whole into a new reader. */
function readWhole(bytes: Uint8Array): StartupReadResult | undefined {
  return new StartupReader().push(bytes);
}

/** Pushes `bytes` one at a time; every push but the last must need more. */
function readByteByByte(bytes: Uint8Array): StartupReadResult {
  const reader = new StartupReader();
  for (let i = 0; i < bytes.length - 1; i++) {
    const result = reader.push(bytes.subarray(i, i + 1));
    assertEquals(result, undefined, `byte ${i} of ${bytes.length} completed a packet early`);
    assertEquals(reader.buffered, i + 1, `buffered after byte ${i}`);
  }
  const result = reader.push(bytes.subarray(bytes.length - 1));
  assert(result !== undefined, "the last byte did not complete the packet");
  return result;
}

/** Asserts that pushing `bytes` into a new reader throws the given code and SQLSTATE. */
function assertStartupError(
  bytes: Uint8Array,
  code: StartupErrorCode,
  sqlState: string,
): StartupProtocolError {
  const error = assertThrows(() => new StartupReader().push(bytes), StartupProtocolError);
  assertEquals(error.code, code, `error code for ${error.message}`);
  assertEquals(error.sqlState, sqlState, `SQLSTATE for ${error.message}`);
  assertEquals(error.name, "StartupProtocolError");
  return error;
}

const EMPTY = new Uint8Array(0);

Deno.test("StartupReader classifies the SSLRequest bytes 00 00 00 08 04 d2 16 2f", () => {
  const bytes = fromHex("00 00 00 08 04 d2 16 2f");
  assertEquals(readWhole(bytes), { packet: { kind: "ssl_request" }, bytes, leftover: EMPTY });
});

Deno.test("StartupReader classifies an SSLRequest fed one byte at a time", () => {
  const bytes = fromHex("00 00 00 08 04 d2 16 2f");
  assertEquals(readByteByByte(bytes), {
    packet: { kind: "ssl_request" },
    bytes,
    leftover: EMPTY,
  });
});

Deno.test("StartupReader classifies a GSSENCRequest", () => {
  const bytes = fromHex("00 00 00 08 04 d2 16 30");
  assertEquals(bytes, gssencRequest());
  assertEquals(readWhole(bytes), { packet: { kind: "gssenc_request" }, bytes, leftover: EMPTY });
});

Deno.test("StartupReader decodes the process id and 4-byte secret of a CancelRequest", () => {
  const bytes = fromHex("00 00 00 10 04 d2 16 2e 00 00 30 39 de ad be ef");
  assertEquals(bytes, cancelRequest(12345, fromHex("deadbeef")));
  assertEquals(readWhole(bytes), {
    packet: { kind: "cancel_request", processId: 12345, secretKey: fromHex("deadbeef") },
    bytes,
    leftover: EMPTY,
  });
});

Deno.test("StartupReader reads a CancelRequest process id with the high bit set as unsigned", () => {
  const result = readWhole(cancelRequest(0xfedcba98, fromHex("01020304")));
  assertEquals(result?.packet, {
    kind: "cancel_request",
    processId: 0xfedcba98,
    secretKey: fromHex("01020304"),
  });
});

Deno.test("StartupReader decodes a protocol 3.2 CancelRequest with a 32-byte key", () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
  const bytes = cancelRequest(4242, key);
  assertEquals(bytes.length, 44);
  assertEquals(readWhole(bytes), {
    packet: { kind: "cancel_request", processId: 4242, secretKey: key },
    bytes,
    leftover: EMPTY,
  });
});

Deno.test("StartupReader accepts a CancelRequest with the longest 256-byte key", () => {
  const key = Uint8Array.from({ length: 256 }, (_, i) => i);
  const result = readWhole(cancelRequest(7, key));
  assertEquals(result?.packet, { kind: "cancel_request", processId: 7, secretKey: key });
});

Deno.test("StartupReader copies a CancelRequest key: reusing the pushed buffer cannot change it", () => {
  const reader = new StartupReader();
  const bytes = cancelRequest(1, fromHex("11223344"));
  const result = reader.push(bytes);
  bytes.fill(0);
  assert(result?.packet.kind === "cancel_request", "not a CancelRequest");
  assertEquals(result.packet.secretKey, fromHex("11223344"));
});

Deno.test("StartupReader decodes a protocol 3.0 StartupMessage with user and database", () => {
  const bytes = startupMessage([["user", "alice"], ["database", "shop"]]);
  assertEquals(readWhole(bytes), {
    packet: {
      kind: "startup",
      majorVersion: 3,
      minorVersion: 0,
      parameters: new Map([["user", "alice"], ["database", "shop"]]),
    },
    bytes,
    leftover: EMPTY,
  });
});

Deno.test("StartupReader decodes a protocol 3.2 StartupMessage with user and database", () => {
  const bytes = startupMessage([
    ["user", "bob"],
    ["database", "analytics"],
    ["_pq_.test_option", "on"],
  ], 2);
  assertEquals(readWhole(bytes), {
    packet: {
      kind: "startup",
      majorVersion: 3,
      minorVersion: 2,
      parameters: new Map([["user", "bob"], ["database", "analytics"], [
        "_pq_.test_option",
        "on",
      ]]),
    },
    bytes,
    leftover: EMPTY,
  });
});

Deno.test("StartupReader decodes UTF-8 parameter values and empty values", () => {
  const bytes = startupMessage([["application_name", "crème ☃"], ["options", ""], [
    "user",
    "ü",
  ]]);
  const result = readWhole(bytes);
  assert(result?.packet.kind === "startup", "not a StartupMessage");
  assertEquals(
    result.packet.parameters,
    new Map([["application_name", "crème ☃"], ["options", ""], ["user", "ü"]]),
  );
});

Deno.test("StartupReader accepts a StartupMessage with no parameters, only the terminator", () => {
  const result = readWhole(packet(3 << 16, Uint8Array.of(0)));
  assertEquals(result?.packet, {
    kind: "startup",
    majorVersion: 3,
    minorVersion: 0,
    parameters: new Map(),
  });
});

Deno.test("StartupReader accepts any minor version of protocol 3", () => {
  const result = readWhole(startupMessage([["user", "x"]], 0xffff));
  assertEquals(result?.packet.kind, "startup");
  assert(result?.packet.kind === "startup");
  assertEquals([result.packet.majorVersion, result.packet.minorVersion], [3, 0xffff]);
});

Deno.test("StartupReader accepts a StartupMessage of exactly 10000 bytes", () => {
  // 8 (length, code) + "user\0\0" + "options\0" + value + "\0" + terminator = 24 + value
  const bytes = startupMessage([["user", ""], ["options", "x".repeat(10000 - 24)]]);
  assertEquals(bytes.length, 10000);
  assertEquals(readWhole(bytes)?.bytes.length, 10000);
});

Deno.test("StartupReader returns every buffered byte as leftover for direct TLS", () => {
  const hello = tlsClientHelloStart();
  assertEquals(readWhole(hello), { packet: { kind: "direct_tls" }, bytes: EMPTY, leftover: hello });
});

Deno.test("StartupReader recognises direct TLS from the first byte alone", () => {
  const reader = new StartupReader();
  const result = reader.push(Uint8Array.of(0x16));
  assertEquals(result, {
    packet: { kind: "direct_tls" },
    bytes: EMPTY,
    leftover: Uint8Array.of(0x16),
  });
  assertEquals(reader.buffered, 0);
});

Deno.test("StartupReader gives the same result for every packet fed one byte at a time as fed whole", () => {
  const packets: Uint8Array[] = [
    sslRequest(),
    gssencRequest(),
    cancelRequest(99, fromHex("cafebabe")),
    cancelRequest(99, new Uint8Array(32).fill(7)),
    startupMessage([["user", "alice"], ["database", "shop"]]),
    startupMessage([["user", "bob"]], 2),
  ];
  for (const [i, bytes] of packets.entries()) {
    const whole = readWhole(bytes);
    assert(whole !== undefined, `packet ${i} fed whole did not complete`);
    assertEquals(readByteByByte(bytes), whole);
    assertEquals(whole.bytes, bytes);
  }
});

Deno.test("StartupReader returns the bytes coalesced after an SSLRequest as leftover", () => {
  const ssl = sslRequest();
  const injected = encoder.encode("Q\0\0\0\x0dSELECT 1\0");
  const result = readWhole(concat(ssl, injected));
  assertEquals(result, { packet: { kind: "ssl_request" }, bytes: ssl, leftover: injected });
});

Deno.test("StartupReader returns a ClientHello coalesced after an SSLRequest as leftover", () => {
  const hello = tlsClientHelloStart();
  const reader = new StartupReader();
  assertEquals(reader.push(fromHex("00 00 00 08 04 d2")), undefined);
  const result = reader.push(concat(fromHex("16 2f"), hello));
  assertEquals(result, { packet: { kind: "ssl_request" }, bytes: sslRequest(), leftover: hello });
  assertEquals(reader.buffered, 0);
});

Deno.test("StartupReader splits a StartupMessage from following bytes at every split point", () => {
  const startup = startupMessage([["user", "alice"]]);
  const following = encoder.encode("p\0\0\0\x08pw\0");
  const all = concat(startup, following);
  for (let split = 1; split < all.length; split++) {
    const reader = new StartupReader();
    const first = reader.push(all.subarray(0, split));
    if (split < startup.length) {
      assertEquals(first, undefined, `split ${split}`);
      assertEquals(reader.buffered, split, `buffered at split ${split}`);
      const second = reader.push(all.subarray(split));
      assertEquals(second?.bytes, startup, `bytes at split ${split}`);
      assertEquals(second?.leftover, following, `leftover at split ${split}`);
    } else {
      assertEquals(first?.bytes, startup, `bytes at split ${split}`);
      assertEquals(first?.leftover, all.subarray(startup.length, split), `leftover at ${split}`);
    }
  }
});

Deno.test("StartupReader reads the next request after a GSSENCRequest when given its leftover", () => {
  const startup = startupMessage([["user", "carol"]]);
  const reader = new StartupReader();
  const first = reader.push(concat(gssencRequest(), startup));
  assertEquals(first?.packet, { kind: "gssenc_request" });
  assert(first !== undefined);
  const second = reader.push(first.leftover);
  assertEquals(second?.packet, {
    kind: "startup",
    majorVersion: 3,
    minorVersion: 0,
    parameters: new Map([["user", "carol"]]),
  });
  assertEquals(second?.bytes, startup);
});

Deno.test("StartupReader returns undefined for a partial packet and reports the buffered count", () => {
  const bytes = startupMessage([["user", "alice"], ["database", "shop"]]);
  const reader = new StartupReader();
  assertEquals(reader.buffered, 0);
  assertEquals(reader.push(bytes.subarray(0, 3)), undefined);
  assertEquals(reader.buffered, 3);
  assertEquals(reader.push(bytes.subarray(3, 10)), undefined);
  assertEquals(reader.buffered, 10);
  assertEquals(reader.push(bytes.subarray(10, bytes.length - 1)), undefined);
  assertEquals(reader.buffered, bytes.length - 1);
  assertEquals(reader.push(bytes.subarray(bytes.length - 1))?.bytes, bytes);
  assertEquals(reader.buffered, 0);
});

Deno.test("StartupReader returns undefined for an empty push", () => {
  const reader = new StartupReader();
  assertEquals(reader.push(EMPTY), undefined);
  assertEquals(reader.buffered, 0);
});

Deno.test("StartupReader rejects a length below 8 as soon as the 4 length bytes arrive", () => {
  for (const length of [0, 4, 7]) {
    const reader = new StartupReader();
    assertEquals(reader.push(u32(length).subarray(0, 3)), undefined);
    const error = assertThrows(() => reader.push(u32(length).subarray(3)), StartupProtocolError);
    assertEquals(error.code, "INVALID_PACKET_LENGTH", `length ${length}`);
    assertEquals(error.answered, false, "PostgreSQL answers no packet it cannot take");
  }
});

Deno.test("StartupReader rejects a length above 10000 as soon as the 4 length bytes arrive", () => {
  for (const length of [10001, 0x7fffffff, 0xffffffff]) {
    const error = assertStartupError(u32(length), "INVALID_PACKET_LENGTH", "08P01");
    assertEquals(error.answered, false);
    assert(error.message.includes(String(length)), `message names ${length}: ${error.message}`);
  }
});

Deno.test("StartupReader rejects an SSLRequest whose length is not 8", () => {
  assertStartupError(concat(u32(16), u32(SSL_REQUEST_CODE)), "INVALID_LENGTH", "08P01");
  assertStartupError(
    concat(u32(9), u32(SSL_REQUEST_CODE), Uint8Array.of(0)),
    "INVALID_LENGTH",
    "08P01",
  );
});

Deno.test("StartupReader rejects a GSSENCRequest whose length is not 8", () => {
  assertStartupError(concat(u32(12), u32(GSSENC_REQUEST_CODE)), "INVALID_LENGTH", "08P01");
});

Deno.test("StartupReader rejects a CancelRequest shorter than 16 or longer than 268 bytes", () => {
  assertStartupError(concat(u32(12), u32(CANCEL_REQUEST_CODE)), "INVALID_LENGTH", "08P01");
  assertStartupError(concat(u32(15), u32(CANCEL_REQUEST_CODE)), "INVALID_LENGTH", "08P01");
  assertStartupError(concat(u32(269), u32(CANCEL_REQUEST_CODE)), "INVALID_LENGTH", "08P01");
});

Deno.test("StartupReader rejects an unknown 1234/xxxx request code", () => {
  for (const minor of [0, 1111, 5677, 5681, 0xffff]) {
    const error = assertStartupError(
      packet((1234 << 16) | minor, Uint8Array.of(0)),
      "UNKNOWN_REQUEST_CODE",
      "08P01",
    );
    assert(error.message.includes(`1234/${minor}`), error.message);
  }
});

Deno.test("StartupReader rejects protocol 2.0 as unsupported with SQLSTATE 0A000", () => {
  assertStartupError(startupMessage([["user", "old"]], 0, 2), "UNSUPPORTED_PROTOCOL", "0A000");
  assertStartupError(startupMessage([["user", "old"]], 0, 1), "UNSUPPORTED_PROTOCOL", "0A000");
});

Deno.test("StartupReader rejects an unknown major version 4 or above with SQLSTATE 08P01", () => {
  for (const major of [4, 5, 1233, 1235, 0x7fff]) {
    assertStartupError(startupMessage([["user", "x"]], 0, major), "UNKNOWN_REQUEST_CODE", "08P01");
  }
});

Deno.test("StartupReader rejects a bad code as soon as the first 8 bytes arrive", () => {
  const reader = new StartupReader();
  assertEquals(reader.push(concat(u32(100), fromHex("00 02 00"))), undefined);
  const error = assertThrows(() => reader.push(Uint8Array.of(0)), StartupProtocolError);
  assertEquals(error.code, "UNSUPPORTED_PROTOCOL");
});

Deno.test("StartupReader rejects a StartupMessage without the final terminator", () => {
  const noListTerminator = encoder.encode("user\0alice\0");
  assertStartupError(packet(3 << 16, noListTerminator), "INVALID_LAYOUT", "08P01");
  const noNulAtAll = encoder.encode("user\0alice");
  assertStartupError(packet(3 << 16, noNulAtAll), "INVALID_LAYOUT", "08P01");
});

Deno.test("StartupReader rejects a StartupMessage with an empty body", () => {
  assertStartupError(packet(3 << 16), "INVALID_LAYOUT", "08P01");
});

Deno.test("StartupReader rejects a parameter name without a value", () => {
  assertStartupError(
    packet(3 << 16, encoder.encode("user\0alice\0database\0\0")),
    "INVALID_LAYOUT",
    "08P01",
  );
});

Deno.test("StartupReader rejects an empty parameter name in the middle of the list", () => {
  assertStartupError(
    packet(3 << 16, encoder.encode("user\0alice\0\0shop\0\0")),
    "INVALID_LAYOUT",
    "08P01",
  );
  assertStartupError(
    packet(3 << 16, concat(Uint8Array.of(0), parameterBody([["user", "x"]]))),
    "INVALID_LAYOUT",
    "08P01",
  );
});
