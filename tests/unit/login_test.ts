/**
 * pgtls's login to a backend for a client it authenticated, against
 * in-memory backends that answer as PostgreSQL does, or not: one that signs
 * wrongly, skips its signature, refuses, or holds another salt.
 */

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import type { TcpConn } from "../../src/runtime/types.ts";
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
  encodeMessage,
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
import { plaintextProxy } from "./memory_session.ts";

const encoder = new TextEncoder();

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
  };
  return conn;
}

const target = backendTarget(parseConfig(plaintextProxy()).proxies[0]!.backend, undefined);

function record(): AuthRecord {
  return { auth: "scram-sha-256", authResult: null, backendAuth: null };
}

const startupPacket = encoder.encode("startup packet bytes");

Deno.test("loginForClient logs in with the recovered ClientKey and hands the client one AuthenticationOk", async () => {
  const parameterStatus = encodeMessage(0x53, encoder.encode("server_version\x0015\x00"));
  const backend = scramBackend({ after: parameterStatus });
  const result = record();
  const login = await loginForClient(backend, startupPacket, await pencilClient(), target, result);
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
        startupPacket,
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
  assertEquals(abort.end, "backend_auth_failed");
  assertEquals(abort.replyBytes, refusal);
  assertEquals(decodeErrorFields(abort.replyBytes!.subarray(5)).get("C"), "53300");
});
