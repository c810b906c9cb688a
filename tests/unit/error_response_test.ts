/**
 * encodeErrorResponse and encodeSslRequest: the exact bytes pgtls writes itself.
 */

import { encodeErrorResponse } from "../../src/protocol/error_response.ts";
import { ERROR_RESPONSE } from "../../src/protocol/codes.ts";
import { encodeSslRequest } from "../../src/protocol/requests.ts";
import { SqlState } from "../../src/protocol/sqlstate.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { fromHex, message } from "../helpers/packets.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Expected ErrorResponse bytes built by hand: 'E', length, the fields text, terminator. */
function expected(fieldsText: string): Uint8Array {
  return message(ERROR_RESPONSE, fieldsText, Uint8Array.of(0));
}

/** Splits an ErrorResponse into its [type, value] fields, checking the framing on the way. */
function decodeFields(message: Uint8Array): [string, string][] {
  assertEquals(message[0], ERROR_RESPONSE, "type byte");
  const length = new DataView(message.buffer, message.byteOffset).getUint32(1);
  assertEquals(length, message.length - 1, "length word counts itself and the body");
  assertEquals(message[message.length - 1], 0, "terminator");
  const fields: [string, string][] = [];
  let offset = 5;
  while (message[offset] !== 0) {
    const end = message.indexOf(0, offset + 1);
    assert(end > 0, `field at ${offset} is not NUL-terminated`);
    fields.push([
      String.fromCharCode(message[offset]!),
      decoder.decode(message.subarray(offset + 1, end)),
    ]);
    offset = end + 1;
  }
  assertEquals(offset, message.length - 1, "nothing after the terminator");
  return fields;
}

Deno.test("encodeErrorResponse writes type E, the length word and fields S V C M in order", () => {
  const bytes = encodeErrorResponse({
    severity: "FATAL",
    code: SqlState.InvalidAuthorization,
    message: "TLS required",
  });
  assertEquals(bytes, expected("SFATAL\0VFATAL\0C28000\0MTLS required\0"));
  assertEquals(bytes[0], ERROR_RESPONSE);
  assertEquals(bytes.subarray(0, 5), fromHex("45 00 00 00 28"));
});

Deno.test("encodeErrorResponse puts detail before hint after the message", () => {
  const bytes = encodeErrorResponse({
    severity: "FATAL",
    code: "08006",
    message: "could not connect to backend db:5432",
    detail: "connection refused",
    hint: "is the server running?",
  });
  assertEquals(
    bytes,
    expected(
      "SFATAL\0VFATAL\0C08006\0Mcould not connect to backend db:5432\0" +
        "Dconnection refused\0His the server running?\0",
    ),
  );
});

Deno.test("encodeErrorResponse writes a hint without a detail field", () => {
  const bytes = encodeErrorResponse({
    severity: "ERROR",
    code: "08P01",
    message: "bad",
    hint: "h",
  });
  assertEquals(decodeFields(bytes), [["S", "ERROR"], ["V", "ERROR"], ["C", "08P01"], [
    "M",
    "bad",
  ], ["H", "h"]]);
});

Deno.test("encodeErrorResponse strips a NUL inside a message so the field is not cut short", () => {
  const bytes = encodeErrorResponse({
    severity: "FATAL",
    code: "08P01",
    message: "bad\0 packet",
    detail: "\0\0x\0",
  });
  assertEquals(bytes, expected("SFATAL\0VFATAL\0C08P01\0Mbad packet\0Dx\0"));
  assertEquals(decodeFields(bytes).map(([type]) => type), ["S", "V", "C", "M", "D"]);
});

Deno.test("encodeErrorResponse encodes UTF-8 text and counts bytes, not characters, in the length", () => {
  const message = "zertifikat für „db“ ungültig ☃";
  const bytes = encodeErrorResponse({ severity: "FATAL", code: "08006", message });
  assertEquals(bytes, expected(`SFATAL\0VFATAL\0C08006\0M${message}\0`));
  assertEquals(decodeFields(bytes)[3], ["M", message]);
  assert(encoder.encode(message).length > message.length, "the message has multi-byte characters");
});

Deno.test("encodeErrorResponse keeps an empty message as an empty field", () => {
  assertEquals(
    encodeErrorResponse({ severity: "PANIC", code: "57P01", message: "" }),
    expected("SPANIC\0VPANIC\0C57P01\0M\0"),
  );
});

Deno.test("encodeSslRequest writes the 8 bytes 00 00 00 08 04 d2 16 2f", () => {
  assertEquals(encodeSslRequest(), fromHex("00 00 00 08 04 d2 16 2f"));
});

Deno.test("encodeSslRequest returns a fresh array each time", () => {
  const first = encodeSslRequest();
  first.fill(0);
  assertEquals(encodeSslRequest(), fromHex("00 00 00 08 04 d2 16 2f"));
});
