import { assert, assertEquals } from "../helpers/assert.ts";
import { AuthWatch, CHANNEL_BINDING_ADVICE } from "../../src/proxy/auth_watch.ts";
import { decodeErrorFields, encodeErrorResponse } from "../../src/protocol/error_response.ts";
import { MessageScanner } from "../../src/protocol/message_scanner.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { AUTH_OK, AUTHENTICATION } from "../../src/protocol/codes.ts";
import {
  authentication,
  authenticationSasl as authSasl,
  backendKeyData,
  readyForQuery,
  saslInitialResponse,
} from "../helpers/packets.ts";

const join = (...parts: Uint8Array[]): Uint8Array => concatAll(parts);

/** A SASLInitialResponse for `mechanism` with 4 bytes of client-first data. */
function saslInitial(mechanism: string): Uint8Array {
  return saslInitialResponse(mechanism, Uint8Array.of(1, 2, 3, 4));
}

const failure = encodeErrorResponse({
  severity: "FATAL",
  code: "28P01",
  message: "SCRAM channel binding check failed",
});

/** Feeds a whole exchange one byte at a time and returns what the client receives. */
function run(watch: AuthWatch, fromClient: Uint8Array, fromBackend: Uint8Array): Uint8Array {
  for (const byte of fromClient) watch.fromClient(Uint8Array.of(byte));
  const out: Uint8Array[] = [];
  for (const byte of fromBackend) out.push(watch.fromBackend(Uint8Array.of(byte)));
  return join(...out);
}

Deno.test("AuthWatch adds advice to a failure after the client chose SCRAM-SHA-256-PLUS", () => {
  const watch = new AuthWatch();
  const backend = join(authSasl("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"), failure);
  const received = run(watch, saslInitial("SCRAM-SHA-256-PLUS"), backend);
  assert(watch.channelBindingFailure);
  assertEquals(watch.active, false);
  const messages = new MessageScanner().push(received);
  assertEquals(messages.length, 2);
  assertEquals(messages[0]!.bytes, authSasl("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"));
  const fields = decodeErrorFields(messages[1]!.body);
  assertEquals(fields.get("C"), "28P01");
  assertEquals(
    fields.get("M"),
    `SCRAM channel binding check failed (${CHANNEL_BINDING_ADVICE})`,
  );
});

Deno.test("AuthWatch passes a wrong-password failure unchanged when the client chose plain SCRAM", () => {
  const watch = new AuthWatch();
  const backend = join(authSasl("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"), failure);
  const received = run(watch, saslInitial("SCRAM-SHA-256"), backend);
  assertEquals(watch.channelBindingFailure, false);
  assertEquals(received, backend);
});

Deno.test("AuthWatch forwards a successful exchange byte for byte and stops at ReadyForQuery", () => {
  const keys: Uint8Array[] = [];
  const watch = new AuthWatch((key) => keys.push(key));
  const backend = join(
    authSasl("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"),
    authentication(AUTH_OK),
    backendKeyData(42, Uint8Array.of(1, 2, 3, 4)),
    readyForQuery("I"),
  );
  const received = run(watch, saslInitial("SCRAM-SHA-256-PLUS"), backend);
  assertEquals(received, backend);
  assertEquals(watch.active, false);
  assertEquals(watch.channelBindingFailure, false);
  // BackendKeyData's body: what a CancelRequest for this session carries after its code.
  assertEquals(keys, [Uint8Array.of(0, 0, 0, 42, 1, 2, 3, 4)]);
});

Deno.test("AuthWatch gives up on a stream that is not protocol messages and forwards it all", () => {
  const watch = new AuthWatch();
  const garbage = Uint8Array.of(AUTHENTICATION, 0xff, 0xff, 0xff, 0xff, 1, 2, 3);
  assertEquals(watch.fromBackend(garbage), garbage);
  assertEquals(watch.active, false);
});

Deno.test("AuthWatch records the backend's refusal before ReadyForQuery with its SQLSTATE", () => {
  const watch = new AuthWatch();
  const authOk = authentication(AUTH_OK);
  const noDatabase = encodeErrorResponse({
    severity: "FATAL",
    code: "3D000",
    message: 'database "nope" does not exist',
  });
  const received = run(watch, new Uint8Array(0), join(authOk, noDatabase));
  assertEquals(received, join(authOk, noDatabase));
  assertEquals(watch.refusal, { sqlstate: "3D000", message: 'database "nope" does not exist' });
  assertEquals(watch.channelBindingFailure, false);
});

Deno.test("AuthWatch records no refusal for an error after ReadyForQuery", () => {
  const watch = new AuthWatch();
  const ready = readyForQuery("I");
  const later = encodeErrorResponse({
    severity: "FATAL",
    code: "57P01",
    message: "terminating connection due to administrator command",
  });
  run(watch, new Uint8Array(0), join(authentication(AUTH_OK), ready, later));
  assertEquals(watch.refusal, null);
});

Deno.test("AuthWatch that may not rewrite forwards each chunk as it comes and still records a refusal", () => {
  const watch = new AuthWatch(undefined, undefined, false);
  const tooMany = encodeErrorResponse({
    severity: "FATAL",
    code: "53300",
    message: "sorry, too many clients already",
  });
  // A partial message is not held back: the client gets every byte at once.
  const half = tooMany.subarray(0, 7);
  assertEquals(watch.fromBackend(half), half);
  assertEquals(watch.refusal, null);
  const rest = tooMany.subarray(7);
  assertEquals(watch.fromBackend(rest), rest);
  assertEquals(watch.refusal, { sqlstate: "53300", message: "sorry, too many clients already" });
  assertEquals(watch.active, false);
});
