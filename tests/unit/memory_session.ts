/**
 * Running the session core without sockets: an in-memory connection, a
 * runtime whose every part fails unless a test gives it, and a session
 * context from a config text.
 *
 * @module
 */

import type { ConnSink, PushConn, Runtime, TcpConn } from "../../src/io/types.ts";
import type { SessionContext } from "../../src/proxy/session.ts";
import { backendTarget } from "../../src/proxy/backend.ts";
import { parseConfig } from "../../src/config/parse.ts";

/** A part of the runtime or context the test does not expect to be used. */
export const unused = (what: string) => () => {
  throw new Error(`${what} is not used by this test`);
};

/** A runtime with `parts`; anything else throws when used. */
export function memoryRuntime(parts: Partial<Runtime>): Runtime {
  return {
    name: "memory",
    version: "0",
    listen: unused("listen"),
    connect: unused("a backend connection"),
    serverTls: unused("serverTls"),
    serverTlsTraits: { library: "memory", cipherList: true },
    clientTls: unused("clientTls"),
    decryptPrivateKey: unused("decryptPrivateKey"),
    serveHttp: unused("serveHttp"),
    ...parts,
  };
}

/**
 * A proxy that admits plaintext clients (no TLS to fake) in front of a
 * plaintext backend at 127.0.0.1:5999; `backendKeys` adds to the backend's
 * keys, e.g. `, cert_file: proxy.crt, key_file: proxy.key`.
 */
export function plaintextProxy(backendKeys = ""): string {
  return `
proxies:
  - name: main
    listener:
      bind_address: 127.0.0.1:0
      tls: { cert_file: unused.crt, key_file: unused.key }
      plaintext: allow
    backend: { address: 127.0.0.1:5999, tls_enabled: false ${backendKeys} }
`;
}

/** The context of the first proxy of `configText`, on `runtime`, with `parts` over it. */
export function memoryContext(
  configText: string,
  runtime: Runtime,
  parts: Partial<SessionContext> = {},
): SessionContext {
  const proxy = parseConfig(configText).proxies[0]!;
  const target = backendTarget(proxy.backend, undefined);
  return {
    runtime,
    listener: proxy.listener,
    serverTls: { upgrade: unused("the listener's TLS") },
    selectBackend: () => target,
    socketOptions: { keepAliveMs: 60_000 },
    signal: new AbortController().signal,
    ...parts,
  };
}

export interface MemoryConnOptions {
  /** Every write fails with this. */
  readonly failWrites?: Error;
  /** Once `incoming` is used up, reads fail with this... */
  readonly failReads?: Error;
  /** ...or return end of stream at once instead of waiting for close(). */
  readonly ends?: boolean;
}

/**
 * The push face of a connection the test does not expect to be relayed:
 * every part throws when used.
 */
export function unusedPushFace(): Omit<PushConn, "closeWrite" | "close"> {
  return {
    attach: unused("the relay"),
    send: unused("the relay"),
    onDrain: null,
    hold: unused("the relay"),
    release: unused("the relay"),
    buffered: 0,
    peakQueued: 0,
    capRecords: unused("the relay"),
  };
}

/**
 * A connection whose reads come from `incoming`, then as the options say;
 * a relay attached to it gets the same, and what it sends is `written`.
 */
export class MemoryConn implements TcpConn {
  readonly kind = "tcp";
  readonly remote = { host: "127.0.0.1", port: 40000 };
  readonly written: Uint8Array[] = [];
  closed = false;
  onDrain: (() => void) | null = null;
  readonly buffered = 0;
  readonly peakQueued = 0;
  #wake: (() => void) | undefined;
  #sink: ConnSink | undefined;

  constructor(
    private readonly incoming: Uint8Array[],
    private readonly options: MemoryConnOptions = {},
  ) {}

  async read(): Promise<Uint8Array | null> {
    const chunk = this.incoming.shift();
    if (chunk !== undefined) return chunk;
    if (this.options.failReads) throw this.options.failReads;
    if (!this.closed && !this.options.ends) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return null;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.options.failWrites) return Promise.reject(this.options.failWrites);
    this.written.push(bytes.slice());
    return Promise.resolve();
  }

  /** The peer sees the end of pgtls's stream and closes, as libpq does after an error. */
  closeWrite(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#wake?.();
    this.#sink?.close();
  }

  attach(sink: ConnSink): void {
    this.#sink = sink;
    for (const chunk of this.incoming.splice(0)) sink.data(chunk);
    if (this.options.failReads) sink.error(this.options.failReads);
    else if (this.options.ends) sink.end();
    if (this.closed) sink.close();
  }

  send(bytes: Uint8Array): boolean {
    if (!this.closed) this.written.push(bytes.slice());
    return true;
  }

  hold(): void {}
  release(): void {}
  capRecords(): void {}
}

/** A proxy whose listener asks clients for a certificate (`client_ca_file`); its files are never read. */
export const CLIENT_CA_PROXY = `
proxies:
  - name: main
    listener:
      bind_address: 127.0.0.1:0
      tls: { cert_file: unused.crt, key_file: unused.key, client_ca_file: unused-ca.crt }
    backend: { address: 127.0.0.1:5999, tls_enabled: false }
`;
