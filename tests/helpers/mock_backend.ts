/**
 * A scripted PostgreSQL-ish backend for wire cases a real server cannot
 * produce: it checks the bytes it receives and answers exactly as told,
 * with real TLS (node:tls in the server role).
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";

/** What the mock does with one connection; resolves when its script is done. */
export type BackendScript = (conn: ScriptedConn) => Promise<void>;

/**
 * Unread bytes a connection holds before it stops reading from its socket:
 * like PostgreSQL, the mock takes in no more than it has got round to, so a
 * script that reads slowly slows its peer down.
 */
const READ_AHEAD = 1024 * 1024;

/** A connection as a script sees it. */
export class ScriptedConn {
  #stream: Duplex;
  #buffer: Uint8Array = new Uint8Array(0);
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(stream: Duplex) {
    this.#stream = stream;
    this.#attach();
  }

  #attach(): void {
    this.#stream.on("data", (chunk: Uint8Array) => {
      const joined = new Uint8Array(this.#buffer.length + chunk.length);
      joined.set(this.#buffer);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
      if (joined.length >= READ_AHEAD) this.#stream.pause();
      this.#wake?.();
    });
    this.#stream.on("end", () => {
      this.#ended = true;
      this.#wake?.();
    });
    this.#stream.on("error", () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  /** Reads exactly `n` bytes; rejects if the peer ends first. */
  async read(n: number): Promise<Uint8Array> {
    while (this.#buffer.length < n) {
      if (this.#ended) throw new Error(`peer ended after ${this.#buffer.length} of ${n} bytes`);
      this.#stream.resume();
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  }

  /** Reads and drops whatever arrives until the peer ends (say pgtls hangs up). */
  async readUntilEnd(): Promise<void> {
    try {
      for (;;) await this.read(1);
    } catch {
      // the peer ended
    }
  }

  /** Bytes received and not yet read. */
  get pending(): number {
    return this.#buffer.length;
  }

  write(bytes: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#stream.write(bytes, (error) => error ? reject(error) : resolve())
    );
  }

  /** Completes a server TLS handshake on this connection. */
  async startTls(cert: string, key: string): Promise<void> {
    const raw = this.#stream as net.Socket;
    raw.removeAllListeners("data");
    raw.pause();
    const secure = new tls.TLSSocket(raw, { isServer: true, cert, key });
    await new Promise<void>((resolve, reject) => {
      secure.once("secure", resolve);
      secure.once("error", reject);
    });
    this.#stream = secure;
    this.#attach();
  }

  end(): void {
    this.#stream.end();
  }
}

/** A listening mock backend. */
export interface MockBackend {
  readonly port: number;
  /** Each connection's script outcome, in accept order. */
  readonly sessions: Promise<void>[];
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 and runs `script` for every connection. */
export function startMockBackend(script: BackendScript): Promise<MockBackend> {
  const sessions: Promise<void>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const conn = new ScriptedConn(socket);
    socket.resume();
    sessions.push(script(conn).finally(() => socket.end()));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        sessions,
        close: () =>
          new Promise<void>((done) => {
            sockets.forEach((s) => s.destroy());
            server.close(() => done());
          }),
      });
    });
  });
}
