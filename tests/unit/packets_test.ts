/**
 * The tests' packet builder (tests/helpers/packets.ts) against bytes written
 * out by hand from the protocol documentation: every other test trusts it.
 */

import { assertEquals } from "../helpers/assert.ts";
import {
  authentication,
  authenticationSasl,
  backendKeyData,
  cancelRequest,
  errorResponse,
  fromHex,
  gssencRequest,
  message,
  parameterStatus,
  query,
  readyForQuery,
  saslInitialResponse,
  saslResponse,
  sslRequest,
  startupMessage,
  sync,
  terminate,
  toHex,
} from "../helpers/packets.ts";

const hex = (bytes: Uint8Array) => toHex(bytes);

Deno.test("the builder's first packets: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage", () => {
  assertEquals(hex(sslRequest()), "0000000804d2162f");
  assertEquals(hex(gssencRequest()), "0000000804d21630");
  assertEquals(hex(cancelRequest(12345, 0xdeadbeef)), "0000001004d2162e00003039deadbeef");
  assertEquals(hex(cancelRequest(1, fromHex("0102"))), "0000000e04d2162e000000010102");
  // length 17, protocol 3.0, "user\0al\0", closing NUL
  assertEquals(hex(startupMessage({ user: "al" })), "00000011" + "00030000" + "7573657200616c0000");
  assertEquals(
    hex(startupMessage([["user", Uint8Array.of(0xff)]], 2)),
    "00000010" + "00030002" + "7573657200ff0000",
  );
  assertEquals(hex(startupMessage([], 0, 2)), "00000009" + "00020000" + "00");
});

Deno.test("the builder's messages: a type byte, a length that counts itself, the body", () => {
  assertEquals(hex(message(0x44, "ab", Uint8Array.of(0))), "44" + "00000007" + "616200");
  assertEquals(hex(query("SELECT 1")), "51" + "0000000d" + "53454c454354203100");
  assertEquals(hex(sync()), "5300000004");
  assertEquals(hex(terminate()), "5800000004");
  assertEquals(hex(readyForQuery("T")), "5a0000000554");
  assertEquals(hex(authentication(0)), "520000000800000000");
  assertEquals(
    hex(authenticationSasl("A", "B")),
    "52" + "0000000d" + "0000000a" + "4100" + "4200" + "00",
  );
  assertEquals(hex(backendKeyData(12345, Uint8Array.of(1, 2, 3, 4))), "4b0000000c0000303901020304");
  assertEquals(hex(parameterStatus("a", "b")), "53" + "00000008" + "6100" + "6200");
  assertEquals(
    hex(saslInitialResponse("M", "xy")),
    "70" + "0000000c" + "4d00" + "00000002" + "7879",
  );
  assertEquals(hex(saslInitialResponse("M")), "70" + "0000000a" + "4d00" + "ffffffff");
  assertEquals(hex(saslResponse("xy")), "70000000067879");
  assertEquals(
    hex(errorResponse({ S: "FATAL", C: "1" })),
    "45" + "0000000f" + "53464154414c00" + "433100" + "00",
  );
});
