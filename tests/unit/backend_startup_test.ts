/**
 * A session whose backend hangs up before it has taken the client's startup
 * packet: the session ends as the backend's fault, and the client hears why.
 * A write that fails at that moment depends on TCP timing on a real socket, so
 * this runs the core against an in-memory runtime whose backend refuses it.
 */

import { runSession, type SessionContext } from "../../src/proxy/session.ts";
import { backendTarget } from "../../src/proxy/backend.ts";
import { parseConfig } from "../../src/config/parse.ts";
import type { Runtime, TcpConn } from "../../src/runtime/types.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { errorFields, parseMessages } from "../helpers/wire.ts";
import { startupMessage } from "./packets.ts";
import { concatAll } from "../../src/protocol/bytes.ts";

/** A connection whose reads come from `incoming`, then wait until it is closed. */
class MemoryConn implements TcpConn {
  readonly kind = "tcp";
  readonly remote = { host: "127.0.0.1", port: 40000 };
  readonly written: Uint8Array[] = [];
  closed = false;
  #wake: (() => void) | undefined;

  constructor(
    private readonly incoming: Uint8Array[],
    private readonly failWrites?: Error,
  ) {}

  async read(): Promise<Uint8Array | null> {
    const chunk = this.incoming.shift();
    if (chunk !== undefined) return chunk;
    if (!this.closed) await new Promise<void>((resolve) => this.#wake = resolve);
    return null;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.failWrites) return Promise.reject(this.failWrites);
    this.written.push(bytes.slice());
    return Promise.resolve();
  }

  /** The peer sees the end of pgtls's stream and closes, as libpq does after an error. */
  closeWrite(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.#wake?.();
  }
}

const unused = (what: string) => () => {
  throw new Error(`${what} is not used by this test`);
};

Deno.test("a backend that hangs up before taking the startup packet is a backend error, and the client is told", async () => {
  const config = parseConfig(`
proxies:
  - name: main
    listener:
      bind_address: 127.0.0.1:0
      tls: { cert_file: unused.crt, key_file: unused.key }
      plaintext: allow
    backend: { address: 127.0.0.1:5999, tls_enabled: false }
`).proxies[0]!;
  const backend = new MemoryConn([], new Error("Broken pipe (os error 32)"));
  const runtime: Runtime = {
    name: "memory",
    version: "0",
    listen: unused("listen"),
    connect: () => Promise.resolve(backend),
    serverTls: unused("serverTls"),
    clientTls: unused("clientTls"),
    relay: unused("relay"),
    serveHttp: unused("serveHttp"),
  };
  const target = backendTarget(config.backend, undefined);
  const context: SessionContext = {
    runtime,
    listener: config.listener,
    serverTls: { upgrade: unused("the listener's TLS") },
    selectBackend: () => target,
    socketOptions: { keepAliveMs: 60_000 },
    signal: new AbortController().signal,
  };
  const client = new MemoryConn([startupMessage(3, 0, [["user", "app"], ["database", "app"]])]);

  const record = await runSession(client, 1, context);

  assertEquals(record.end, "backend_error");
  assertMatch(record.error ?? "", /before the startup packet was sent: Broken pipe/);
  assertEquals(record.counters.clientToBackend, 0, "nothing reached the backend");
  assert(backend.closed, "the backend connection is closed");
  const messages = parseMessages(concatAll(client.written));
  assertEquals(messages.map((m) => m.type), ["E"]);
  const fields = errorFields(messages[0]!.body);
  assertEquals([fields.S, fields.C], ["FATAL", "08006"]);
  assertMatch(fields.M ?? "", /^pgtls: backend 127\.0\.0\.1:5999: connection lost/);
});
