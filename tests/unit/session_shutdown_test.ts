/**
 * Shutdown reaching a session before its relay: the client has sent its
 * startup packet and heard nothing, so it is told why (57P01), as a relayed
 * session at a message boundary is (lifecycle_test.ts, on every runtime).
 */

import { runSession } from "../../src/proxy/session.ts";
import type { TcpConn } from "../../src/io/types.ts";
import { concatAll } from "../../src/protocol/bytes.ts";
import { assertEquals } from "../helpers/assert.ts";
import { errorFields, parseMessages } from "../helpers/wire.ts";
import { parameterStatus, startupMessage } from "../helpers/packets.ts";
import {
  AUTH_OK,
  AUTH_SASL,
  AUTH_SASL_CONTINUE,
  AUTHENTICATION,
} from "../../src/protocol/codes.ts";
import {
  MemoryConn,
  memoryContext,
  memoryRuntime,
  plaintextProxy,
  unusedPushFace,
} from "./memory_session.ts";
import { MessageScanner, type ProtocolMessage } from "../../src/protocol/message_scanner.ts";
import {
  decodeSaslInitialResponse,
  encodeAuthenticationOk,
  encodeAuthenticationSasl,
  encodeSaslContinue,
  encodeSaslFinal,
  encodeSaslInitialResponse,
  encodeSaslResponse,
} from "../../src/protocol/messages.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { parseUsersFile } from "../../src/proxy/auth/users_file.ts";
import { ownSalts, plaintextCredentials } from "../../src/proxy/auth/own_salts.ts";
import { listenerAuthKeys, ProxyAuth } from "../../src/proxy/auth/proxy_auth.ts";
import { ScramServerExchange } from "../../src/proxy/auth/scram_server.ts";
import {
  fromBase64,
  hmacSha256,
  keysFromSaltedPassword,
  saltedPassword,
  toBase64,
  xorBytes,
} from "../../src/proxy/auth/scram_crypto.ts";

Deno.test("shutdown while the backend is being opened: FATAL 57P01 to the client, ended as shutdown", async () => {
  let dialing!: () => void;
  const dialed = new Promise<void>((resolve) => dialing = resolve);
  // A backend that never answers the connect.
  const runtime = memoryRuntime({
    connect: () => {
      dialing();
      return new Promise<TcpConn>(() => {});
    },
  });
  const shutdown = new AbortController();
  const context = memoryContext(plaintextProxy(), runtime, { signal: shutdown.signal });
  const client = new MemoryConn([startupMessage([["user", "app"]])]);
  const session = runSession(client, 1, context);
  await dialed;
  shutdown.abort();
  const record = await session;
  assertEquals([record.end, record.error], ["shutdown", "pgtls is shutting down"]);
  const messages = parseMessages(concatAll(client.written));
  assertEquals(messages.map((m) => m.type), ["E"]);
  const fields = errorFields(messages[0]!.body);
  assertEquals([fields.S, fields.C], ["FATAL", "57P01"]);
  assertEquals(fields.M, "terminating connection because pgtls is shutting down");
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connection whose peer answers what pgtls writes to it, message by message. */
class ScriptedPeer implements TcpConn {
  readonly kind = "tcp";
  readonly remote = { host: "127.0.0.1", port: 40000 };
  readonly written: Uint8Array[] = [];
  readonly #incoming: Uint8Array[] = [];
  readonly #scanner = new MessageScanner();
  #wake: (() => void) | undefined;
  #closed = false;
  readonly #push = unusedPushFace();
  onDrain = null;
  readonly buffered = 0;
  readonly peakQueued = 0;
  readonly attach = this.#push.attach;
  readonly send = this.#push.send;
  readonly hold = this.#push.hold;
  readonly release = this.#push.release;
  readonly capRecords = this.#push.capRecords;

  constructor(
    first: Uint8Array | null,
    private readonly answer: (message: ProtocolMessage | Uint8Array) => Promise<void> | void,
    private readonly typed = true,
  ) {
    if (first) this.#incoming.push(first);
  }

  push(bytes: Uint8Array): void {
    this.#incoming.push(bytes);
    this.#wake?.();
  }

  async read(): Promise<Uint8Array | null> {
    while (this.#incoming.length === 0 && !this.#closed) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#incoming.shift() ?? null;
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.written.push(bytes.slice());
    if (!this.typed && this.written.length === 1) return await this.answer(bytes);
    for (const message of this.#scanner.push(bytes)) await this.answer(message);
  }

  closeWrite(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  close(): void {
    this.#closed = true;
    this.#wake?.();
  }
}

/**
 * A session with `auth` that logs in for its client ("app", password
 * "pencil"), whose backend sends `after` after its AuthenticationOk, and
 * that pgtls is told to shut down while it hands the client the login.
 */
async function shutdownAtLogin(after: Uint8Array) {
  const config = `${plaintextProxy()}    auth: { users_file: users.txt }\n`;
  const authConfig = parseConfig(config).proxies[0]!.auth!;
  const users = parseUsersFile('"app" "pencil"\n');
  const salts = await ownSalts({ users, listenerKeyPem: "" });
  const auth = new ProxyAuth(
    authConfig,
    { users, salts, plaintext: await plaintextCredentials(users, salts) },
    listenerAuthKeys(""),
  );
  const shutdown = new AbortController();
  // The backend: PostgreSQL's side of SCRAM for "pencil", then `after`.
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const keys = await keysFromSaltedPassword(
    await saltedPassword(encoder.encode("pencil"), salt, 4096),
  );
  const server = new ScramServerExchange({
    user: "app",
    credentials: { salt, iterations: 4096, ...keys },
    known: true,
    binding: null,
  });
  const backend: ScriptedPeer = new ScriptedPeer(null, async (message) => {
    if (message instanceof Uint8Array) {
      return backend.push(encodeAuthenticationSasl(["SCRAM-SHA-256"]));
    }
    if (backend.written.length === 2) {
      const initial = decodeSaslInitialResponse(message.body);
      return backend.push(encodeSaslContinue(server.initial(initial.mechanism, initial.data)));
    }
    const verified = await server.final(message.body);
    backend.push(
      concatAll([encodeSaslFinal(verified.serverFinal), encodeAuthenticationOk(), after]),
    );
  }, false);
  // The client: libpq's side, with "pencil"; shutdown comes as pgtls tells it the login went well.
  const nonce = "clientnonce";
  let serverFirst = "";
  const client: ScriptedPeer = new ScriptedPeer(
    startupMessage([["user", "app"], ["database", "app"]]),
    async (message) => {
      if (message instanceof Uint8Array || message.type !== AUTHENTICATION) return;
      const code = new DataView(message.body.buffer, message.body.byteOffset).getUint32(0);
      if (code === AUTH_SASL) {
        return client.push(
          encodeSaslInitialResponse("SCRAM-SHA-256", encoder.encode(`n,,n=,r=${nonce}`)),
        );
      }
      if (code === AUTH_SASL_CONTINUE) {
        serverFirst = decoder.decode(message.body.subarray(4));
        const fields = Object.fromEntries(serverFirst.split(",").map((f) => [f[0], f.slice(2)]));
        const own = await keysFromSaltedPassword(
          await saltedPassword(encoder.encode("pencil"), fromBase64(fields.s!)!, Number(fields.i)),
        );
        const withoutProof = `c=biws,r=${fields.r}`;
        const authMessage = encoder.encode(`n=,r=${nonce},${serverFirst},${withoutProof}`);
        const proof = xorBytes(own.clientKey, await hmacSha256(own.storedKey, authMessage));
        return client.push(
          encodeSaslResponse(encoder.encode(`${withoutProof},p=${toBase64(proof)}`)),
        );
      }
      if (code === AUTH_OK) shutdown.abort();
    },
  );
  const runtime = memoryRuntime({ connect: () => Promise.resolve(backend) });
  const context = memoryContext(config, runtime, {
    signal: shutdown.signal,
    selectAuth: () => auth,
  });
  const record = await runSession(client, 1, context);
  return { record, received: concatAll(client.written) };
}

Deno.test("shutdown as pgtls hands its client the login: 57P01 after AuthenticationOk at a message boundary", async () => {
  const status = parameterStatus("server_version", "15");
  const { record, received } = await shutdownAtLogin(status);
  assertEquals(record.end, "shutdown");
  const messages = parseMessages(received);
  assertEquals(messages.map((m) => m.type), ["R", "R", "R", "R", "S", "E"]);
  assertEquals(errorFields(messages[5]!.body).C, "57P01");
});

Deno.test("shutdown as pgtls hands its client the login: a bare end in the middle of a backend message", async () => {
  const status = parameterStatus("server_version", "15");
  const half = status.subarray(0, 9);
  const { record, received } = await shutdownAtLogin(half);
  assertEquals(record.end, "shutdown");
  // Nothing after the half message: an ErrorResponse there would be read as its rest.
  assertEquals(received.subarray(received.length - half.length), half);
  assertEquals(
    parseMessages(received.subarray(0, received.length - half.length)).map((m) => m.type),
    ["R", "R", "R", "R"],
  );
});
