import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  decodeAuthentication,
  decodeDataRow,
  decodeSaslInitialResponse,
  encodeAuthenticationSasl,
  encodeBind,
  encodeSaslInitialResponse,
  encodeStartupMessage,
  MalformedMessage,
} from "../../src/protocol/messages.ts";
import { MessageScanner } from "../../src/protocol/message_scanner.ts";
import { StartupReader } from "../../src/protocol/startup_reader.ts";
import { concat, fromHex, u32 } from "../helpers/packets.ts";

const encoder = new TextEncoder();

/** The body of the one message in `bytes`, checking its type and length word. */
function body(bytes: Uint8Array, type: string): Uint8Array {
  const [message, ...rest] = new MessageScanner().push(bytes);
  assertEquals(rest.length, 0);
  assertEquals(String.fromCharCode(message!.type), type);
  return message!.body;
}

Deno.test("AuthenticationSASL lists mechanisms NUL-terminated, with a closing NUL", () => {
  const bytes = encodeAuthenticationSasl(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
  assertEquals(
    bytes,
    concat(
      fromHex("52 0000002a 0000000a"),
      encoder.encode("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
    ),
  );
  assertEquals(decodeAuthentication(body(bytes, "R")), {
    kind: "sasl",
    mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"],
  });
});

Deno.test("decodeAuthentication reads ok, cleartext, md5 with its salt, SASL steps and others", () => {
  assertEquals(decodeAuthentication(u32(0)), { kind: "ok" });
  assertEquals(decodeAuthentication(u32(3)), { kind: "cleartext" });
  assertEquals(decodeAuthentication(concat(u32(5), fromHex("01020304"))), {
    kind: "md5",
    salt: fromHex("01020304"),
  });
  assertEquals(decodeAuthentication(concat(u32(11), encoder.encode("r=x"))), {
    kind: "sasl_continue",
    data: encoder.encode("r=x"),
  });
  assertEquals(decodeAuthentication(concat(u32(12), encoder.encode("v=x"))), {
    kind: "sasl_final",
    data: encoder.encode("v=x"),
  });
  assertEquals(decodeAuthentication(u32(7)), { kind: "other", code: 7 });
  assertThrows(() => decodeAuthentication(u32(5)), MalformedMessage);
  assertThrows(() => decodeAuthentication(fromHex("0000")), MalformedMessage);
});

Deno.test("SASLInitialResponse round-trips, and a length that does not fit is refused", () => {
  const data = encoder.encode("n,,n=,r=abc");
  const decoded = decodeSaslInitialResponse(
    body(encodeSaslInitialResponse("SCRAM-SHA-256", data), "p"),
  );
  assertEquals(decoded, { mechanism: "SCRAM-SHA-256", data });
  const noData = concat(encoder.encode("SCRAM-SHA-256\0"), fromHex("ffffffff"));
  assertEquals(decodeSaslInitialResponse(noData).data.length, 0);
  const short = concat(encoder.encode("SCRAM-SHA-256\0"), u32(20), data);
  assertThrows(() => decodeSaslInitialResponse(short), MalformedMessage);
  assertThrows(() => decodeSaslInitialResponse(encoder.encode("SCRAM")), MalformedMessage);
});

Deno.test("encodeStartupMessage is what the startup reader reads back", () => {
  const bytes = encodeStartupMessage(new Map([["user", "a"], ["database", "b"]]));
  const result = new StartupReader().push(bytes);
  assertEquals(result?.packet.kind, "startup");
  if (result?.packet.kind !== "startup") return;
  assertEquals([...result.packet.parameters], [["user", "a"], ["database", "b"]]);
});

Deno.test("Bind carries its parameters as text; DataRow decodes text and NULL", () => {
  assertEquals(
    body(encodeBind(["o'neil"]), "B"),
    concat(fromHex("00 00 0000 0001 00000006"), encoder.encode("o'neil"), fromHex("0000")),
  );
  const row = concat(fromHex("0002 00000001"), encoder.encode("x"), fromHex("ffffffff"));
  assertEquals(decodeDataRow(row), ["x", null]);
  assertThrows(() => decodeDataRow(fromHex("0001 00000005 00")), MalformedMessage);
});
