/**
 * pgtls's login to a backend for a client it authenticated, against
 * in-memory backends that answer as PostgreSQL does, or not: one that signs
 * wrongly, skips its signature, refuses, or holds another salt.
 */

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import type { TcpConn } from "../../src/io/types.ts";
import {
  type AuthenticatedClient,
  type AuthRecord,
  loginForClient,
} from "../../src/proxy/login.ts";
import { backendTarget } from "../../src/proxy/backend.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { SessionAbort } from "../../src/proxy/session_end.ts";
import { MessageScanner } from "../../src/protocol/message_scanner.ts";
import {
  decodeSaslInitialResponse,
  encodeAuthenticationOk,
  encodeAuthenticationSasl,
  encodeSaslContinue,
  encodeSaslFinal,
} from "../../src/protocol/messages.ts";
import { decodeErrorFields, encodeErrorResponse } from "../../src/protocol/error_response.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { ScramServerExchange } from "../../src/proxy/auth/scram_server.ts";
import { parseSecret, type ScramSecret } from "../../src/proxy/auth/secret.ts";
import {
  fromBase64,
  keysFromSaltedPassword,
  saltedPassword,
  toBase64,
} from "../../src/proxy/auth/scram_crypto.ts";
import { plaintextProxy, unusedPushFace } from "./memory_session.ts";
import * as packets from "../helpers/packets.ts";

const encoder = new TextEncoder();

const startupPacket = encoder.encode("startup packet bytes");

/** RFC 7677's "pencil" secret. */
const SECRET =
  "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

function scramSecret(): ScramSecret {
  const secret = parseSecret(SECRET);
  assert(typeof secret !== "string" && secret.kind === "scram");
  return secret;
}

/** A client pgtls has authenticated: the ClientKey of "pencil". */
async function pencilClient(): Promise<AuthenticatedClient> {
  const secret = scramSecret();
  const keys = await keysFromSaltedPassword(
    await saltedPassword(encoder.encode("pencil"), secret.salt, secret.iterations),
  );
  return {
    user: "user",
    secret,
    verified: {
      mechanism: "SCRAM-SHA-256",
      clientKey: keys.clientKey,
      serverFinal: encoder.encode("v=final-for-the-client"),
    },
    pending: new Uint8Array(0),
    backendStartup: startupPacket,
  };
}

/** How the in-memory backend answers the login. */
interface BackendBehaviour {
  /** Its secret (salt, keys); RFC 7677's by default. */
  readonly secret?: ScramSecret;
  /** Turns its server-final message into something else. */
  readonly final?: (serverFinal: Uint8Array) => Uint8Array | null;
  /** Sent instead of AuthenticationSASL. */
  readonly instead?: Uint8Array;
  /** Sent after AuthenticationOk. */
  readonly after?: Uint8Array;
  /** Sent between SASLFinal and AuthenticationOk. */
  readonly beforeOk?: Uint8Array;
}

/**
 * A backend connection that plays PostgreSQL's side of SCRAM with
 * pgtls's own server exchange, changed as `behaviour` says.
 */
function scramBackend(behaviour: BackendBehaviour = {}): TcpConn & { received: Uint8Array[] } {
  const secret = behaviour.secret ?? scramSecret();
  const exchange = new ScramServerExchange({
    user: "user",
    credentials: secret,
    known: true,
    binding: null,
  });
  const outgoing: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const scanner = new MessageScanner();
  let startup = true;
  const send = (...messages: Uint8Array[]) => {
    outgoing.push(concatAll(messages));
    wake?.();
  };
  const conn = {
    kind: "tcp" as const,
    remote: { host: "127.0.0.1", port: 5432 },
    received: [] as Uint8Array[],
    async read(): Promise<Uint8Array | null> {
      while (outgoing.length === 0 && !closed) await new Promise<void>((r) => wake = r);
      return outgoing.shift() ?? null;
    },
    async write(bytes: Uint8Array): Promise<void> {
      conn.received.push(bytes.slice());
      if (startup) {
        startup = false;
        return send(behaviour.instead ?? encodeAuthenticationSasl(["SCRAM-SHA-256"]));
      }
      for (const message of scanner.push(bytes)) {
        // Its part is played: what pgtls sends after the client-final goes unanswered.
        if (conn.received.length > 3) return;
        if (conn.received.length === 2) {
          const initial = decodeSaslInitialResponse(message.body);
          send(encodeSaslContinue(exchange.initial(initial.mechanism, initial.data)));
          continue;
        }
        const verified = await exchange.final(message.body);
        const final = behaviour.final
          ? behaviour.final(verified.serverFinal)
          : verified.serverFinal;
        send(
          ...(final === null ? [] : [encodeSaslFinal(final)]),
          behaviour.beforeOk ?? new Uint8Array(0),
          encodeAuthenticationOk(),
          behaviour.after ?? new Uint8Array(0),
        );
      }
    },
    closeWrite: () => Promise.resolve(),
    close(): void {
      closed = true;
      wake?.();
    },
    ...unusedPushFace(),
  };
  return conn;
}

const target = backendTarget(parseConfig(plaintextProxy()).proxies[0]!.backend, undefined);

function record(): AuthRecord {
  return { auth: "scram-sha-256", authResult: null, backendAuth: null };
}

Deno.test("loginForClient logs in with the recovered ClientKey and hands the client one AuthenticationOk", async () => {
  const parameterStatus = packets.parameterStatus("server_version", "15");
  const backend = scramBackend({ after: parameterStatus });
  const result = record();
  const client = await pencilClient();
  const login = await loginForClient(backend, client, target, result);
  assert(client.verified.clientKey.every((byte) => byte === 0), "the ClientKey is wiped once used");
  assertEquals(backend.received[0], startupPacket);
  const messages = new MessageScanner().push(login.toClient);
  assertEquals(messages.map((m) => String.fromCharCode(m.type)), ["R", "R"]);
  assertEquals(messages[0]!.bytes, encodeSaslFinal(encoder.encode("v=final-for-the-client")));
  assertEquals(messages[1]!.bytes, encodeAuthenticationOk());
  assertEquals(login.rest, parameterStatus);
  assertEquals([result.authResult, result.backendAuth], ["ok", "scram-sha-256"]);
});

/** The SessionAbort a failed login ends the session with. */
async function failedLogin(behaviour: BackendBehaviour): Promise<[SessionAbort, AuthRecord]> {
  const result = record();
  const abort = await assertRejects(
    async () => {
      await loginForClient(
        scramBackend(behaviour),
        await pencilClient(),
        target,
        result,
      );
    },
    SessionAbort,
  );
  assertEquals(result.authResult, "backend_failed");
  return [abort, result];
}

Deno.test("a backend that signs wrongly fails the session", async () => {
  const [abort] = await failedLogin({
    final: (serverFinal) => {
      const signature = fromBase64(new TextDecoder().decode(serverFinal).slice(2))!;
      signature[0]! ^= 1;
      return encoder.encode(`v=${toBase64(signature)}`);
    },
  });
  assertEquals(abort.end, "backend_auth_failed");
  assertEquals(abort.reply?.code, "08006");
  assert(abort.reply?.message.includes("server signature is wrong"), abort.reply?.message);
});

Deno.test("a backend that accepts without its server signature fails the session", async () => {
  const [abort] = await failedLogin({ final: () => null });
  assertEquals(abort.end, "backend_auth_failed");
  assert(abort.reply?.message.includes("without completing SCRAM"), abort.reply?.message);
});

Deno.test("a backend that starts a second SASL exchange after a verified one fails the session", async () => {
  // Else the first exchange's signature would vouch for an AuthenticationOk the second never earned.
  const [abort] = await failedLogin({ beforeOk: encodeAuthenticationSasl(["SCRAM-SHA-256"]) });
  assertEquals([abort.end, abort.reply?.code], ["backend_auth_failed", "08006"]);
  assert(abort.reply?.message.includes("a second SASL exchange"), abort.reply?.message);
});

Deno.test("a backend with another salt fails the session with 28000, naming the user", async () => {
  const other = parseSecret(
    "SCRAM-SHA-256$4096:AAAAAAAAAAAAAAAAAAAAAA==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
  ) as ScramSecret;
  const [abort] = await failedLogin({ secret: other });
  assertEquals(abort.reply?.code, "28000");
  assert(abort.reply?.message.includes('user "user"'), abort.reply?.message);
  assert(abort.reply?.message.includes("is not the backend's"), abort.reply?.message);
});

Deno.test("a backend's ErrorResponse reaches the client as it sent it", async () => {
  const refusal = encodeErrorResponse({
    severity: "FATAL",
    code: "53300",
    message: "sorry, too many clients already",
  });
  const [abort] = await failedLogin({ instead: refusal });
  assertEquals(abort.end, "backend_refused");
  assertEquals(abort.replyBytes, refusal);
  assertEquals(decodeErrorFields(abort.replyBytes!.subarray(5)).get("C"), "53300");
});

Deno.test("connect_timeout ends a login stuck on something closing the backend does not end (PBKDF2 is one)", async () => {
  let closed = false;
  // Its writes never complete, closed or not: like PBKDF2, which runs on once begun.
  const stuck: TcpConn = {
    kind: "tcp",
    remote: { host: "127.0.0.1", port: 5432 },
    read: () => new Promise(() => {}),
    write: () => new Promise(() => {}),
    closeWrite: () => Promise.resolve(),
    close: () => void (closed = true),
    ...unusedPushFace(),
  };
  const quick = backendTarget(
    parseConfig(plaintextProxy(", connect_timeout: 100ms")).proxies[0]!.backend,
    undefined,
  );
  const result = record();
  const client = await pencilClient();
  const clientKey = client.verified.clientKey;
  // A guard far past the 100 ms, so that a login that never ends fails the test instead of hanging it.
  let guard: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"still logging in">((resolve) =>
    guard = setTimeout(() => resolve("still logging in"), 20_000)
  );
  const outcome = await Promise.race([
    loginForClient(stuck, client, quick, result).catch((error) => error),
    hung,
  ]).finally(() => clearTimeout(guard));
  assert(outcome instanceof SessionAbort, String(outcome));
  assertEquals(outcome.reply?.code, "08006");
  assert(outcome.reply?.message.includes("no login within connect_timeout (100ms)"));
  assert(closed, "the backend connection was closed");
  assertEquals(result.authResult, "backend_failed");
  assert(clientKey.every((byte) => byte === 0), "the recovered ClientKey was wiped");
});
