/**
 * codes.ts against the protocol documentation ("Message Formats" and
 * "Message Flow" in the PostgreSQL manual), written here by letter and
 * number so that a slip in codes.ts cannot hide behind tests and builders
 * that import the same constant.
 */

import * as codes from "../../src/protocol/codes.ts";
import { assertEquals } from "../helpers/assert.ts";

/** Each message type constant and the letter the manual gives its message. */
const MESSAGE_LETTERS: Readonly<Record<string, string>> = {
  // frontend
  BIND: "B",
  CLOSE: "C",
  DESCRIBE: "D",
  EXECUTE: "E",
  COPY_FAIL: "f",
  FUNCTION_CALL: "F",
  FLUSH: "H",
  PARSE: "P",
  PASSWORD_MESSAGE: "p",
  SASL_INITIAL_RESPONSE: "p",
  SASL_RESPONSE: "p",
  GSS_RESPONSE: "p",
  QUERY: "Q",
  SYNC: "S",
  TERMINATE: "X",
  // both
  COPY_DATA: "d",
  COPY_DONE: "c",
  // backend
  PARSE_COMPLETE: "1",
  BIND_COMPLETE: "2",
  CLOSE_COMPLETE: "3",
  NOTIFICATION_RESPONSE: "A",
  COMMAND_COMPLETE: "C",
  DATA_ROW: "D",
  ERROR_RESPONSE: "E",
  COPY_IN_RESPONSE: "G",
  COPY_OUT_RESPONSE: "H",
  EMPTY_QUERY_RESPONSE: "I",
  BACKEND_KEY_DATA: "K",
  NO_DATA: "n",
  NOTICE_RESPONSE: "N",
  AUTHENTICATION: "R",
  PORTAL_SUSPENDED: "s",
  PARAMETER_STATUS: "S",
  PARAMETER_DESCRIPTION: "t",
  ROW_DESCRIPTION: "T",
  NEGOTIATE_PROTOCOL_VERSION: "v",
  FUNCTION_CALL_RESPONSE: "V",
  COPY_BOTH_RESPONSE: "W",
  READY_FOR_QUERY: "Z",
  // ReadyForQuery's status, and the answers to SSLRequest and GSSENCRequest
  TRANSACTION_IDLE: "I",
  TRANSACTION_IN_BLOCK: "T",
  TRANSACTION_FAILED: "E",
  ACCEPT_BYTE: "S",
  DECLINE_BYTE: "N",
};

/** The Authentication message's codes as the manual numbers them. */
const AUTH_CODES: Readonly<Record<string, number>> = {
  AUTH_OK: 0,
  AUTH_KERBEROS_V5: 2,
  AUTH_CLEARTEXT_PASSWORD: 3,
  AUTH_MD5_PASSWORD: 5,
  AUTH_GSS: 7,
  AUTH_GSS_CONTINUE: 8,
  AUTH_SSPI: 9,
  AUTH_SASL: 10,
  AUTH_SASL_CONTINUE: 11,
  AUTH_SASL_FINAL: 12,
};

const table = codes as unknown as Readonly<Record<string, unknown>>;

Deno.test("every message type byte in codes.ts is the letter the protocol documentation gives it", () => {
  for (const [name, letter] of Object.entries(MESSAGE_LETTERS)) {
    assertEquals(table[name], letter.charCodeAt(0), name);
  }
});

Deno.test("every Authentication code in codes.ts is the protocol documentation's number", () => {
  for (const [name, code] of Object.entries(AUTH_CODES)) assertEquals(table[name], code, name);
});

Deno.test("codes.ts names no byte or code that this test does not check against the documentation", () => {
  const checked = new Set([...Object.keys(MESSAGE_LETTERS), ...Object.keys(AUTH_CODES)]);
  const startup = new Set([
    "REQUEST_CODE_MAJOR",
    "SSL_REQUEST_CODE",
    "GSSENC_REQUEST_CODE",
    "CANCEL_REQUEST_CODE",
    "NEGOTIATION_REQUEST_LENGTH",
    "CANCEL_REQUEST_MIN_LENGTH",
    "CANCEL_KEY_OFFSET",
    "CANCEL_REQUEST_MAX_LENGTH",
    "STARTUP_PACKET_MIN_LENGTH",
    "STARTUP_PACKET_MAX_LENGTH",
    "PROTOCOL_MAJOR_VERSION",
    "TLS_HANDSHAKE_RECORD_TYPE",
    "ALPN_POSTGRESQL",
    "SCRAM_SHA_256_PLUS",
    "SCRAM_SHA_256",
  ]);
  const unchecked = Object.keys(table).filter((name) => !checked.has(name) && !startup.has(name));
  assertEquals(unchecked, [], "add each new constant to this test with the documented value");
});

Deno.test("the startup request codes are 1234 over 5679 (SSL), 5680 (GSSENC) and 5678 (cancel)", () => {
  assertEquals(codes.REQUEST_CODE_MAJOR, 1234);
  assertEquals(codes.SSL_REQUEST_CODE, (1234 << 16) | 5679);
  assertEquals(codes.GSSENC_REQUEST_CODE, (1234 << 16) | 5680);
  assertEquals(codes.CANCEL_REQUEST_CODE, (1234 << 16) | 5678);
  assertEquals(codes.PROTOCOL_MAJOR_VERSION, 3);
  assertEquals(codes.TLS_HANDSHAKE_RECORD_TYPE, 22, "TLS ContentType handshake(22)");
});
