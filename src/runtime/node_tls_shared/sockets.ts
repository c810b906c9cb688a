/**
 * Sockets and TLS on `node:net` and `node:tls`. Node.js uses this directly;
 * Deno uses its server side too, because Deno has no native server-side
 * upgrade of an accepted socket, and `node:tls` can wrap one there as long as
 * the socket is not flowing when it is wrapped (so `read()` below never puts
 * a socket into flowing mode). How a TLS socket sits on its TCP socket, and
 * what flow control pauses, is a {@link TlsLayer}: the TCP socket itself by
 * default, Deno's read gate on Deno (`../deno/read_gate.ts`).
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import { assertKeyFitsCertificate } from "./key_pair.ts";
import { openSslServer, type ServerTlsLibrary } from "./server_library.ts";
import { CertificatesByName, readClientHelloName } from "./listener_certificates.ts";
import { EMPTY_BYTES } from "../../protocol/bytes.ts";
import type {
  ByteConn,
  ClientTlsOptions,
  ClientTlsUpgrader,
  ConnSink,
  Endpoint,
  Listener,
  ListenOptions,
  PeerCertificate,
  ServerCertificate,
  ServerTlsOptions,
  ServerTlsUpgrader,
  ServerUpgrade,
  SocketOptions,
  TcpConn,
  TlsConn,
  TlsSessionInfo,
} from "../../io/types.ts";
import {
  ConnectError,
  systemConnectError,
  systemListenError,
  TlsHandshakeError,
} from "../../io/errors.ts";
import { certificateDer, describePeerCertificate } from "./peer_certificate.ts";
import { handshake, serverHandshake } from "./handshake.ts";
import { tlsSessionInfo } from "./session_info.ts";
import { prefixReplay } from "./prefix_replay.ts";
import { cappedWriter, fragmentRecords, type RecordCap } from "./client_records.ts";

/**
 * Bytes a connection may have in flight to its peer before {@link NodeConn.send}
 * asks the relay to hold the source. A stream's own limit (16 KiB) is below
 * one chunk read (up to 64 KiB), so obeying it stopped and restarted the
 * source around every chunk of a bulk transfer.
 */
export const RELAY_IN_FLIGHT = 256 * 1024;

/** Hears the size of every chunk a relay reads (for `young_collection.ts`). */
export type ChunkWatch = (bytes: number) => void;

/** Stops and restarts reading from a peer. */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

/** The stream `node:tls` should wrap, and what flow control pauses. */
export interface TlsFooting {
  readonly transport: Duplex;
  /** What the relay pauses to stop reading; the TLS socket when absent. */
  readonly flow?: FlowControl;
  /** Started around each negotiation read and paused after the handshake, where given. */
  readonly reading?: FlowControl;
  /**
   * To be called with the TLS socket made on `transport` (`restartReading`
   * on the client side, which starts reading at once): so that an error the
   * TLS engine throws while reading fails that socket instead of the process.
   */
  readonly guard?: (socket: tls.TLSSocket, restartReading: boolean) => void;
}

/**
 * How a TLS socket is put on a TCP socket, given bytes already read from it
 * (`prefix`, a direct-TLS ClientHello) that the TLS socket must see first.
 */
export type TlsLayer = (socket: net.Socket, prefix?: Uint8Array) => TlsFooting;

/**
 * `node:tls` straight on the TCP socket, and the TLS socket paused by flow
 * control (Node.js, and Bun's `node:tls`); bytes to replay go through
 * {@link transportStream}.
 */
export const nativeTlsLayer: TlsLayer = (socket, prefix) => {
  if (prefix === undefined || prefix.length === 0) return { transport: socket };
  const replay = transportStream(socket, prefix);
  return { transport: replay.transport, guard: replay.guard };
};

/** A {@link ByteConn} over a Node.js duplex stream. */
class NodeConn implements ByteConn {
  readonly stream: Duplex;
  /** What to pause to stop reading from the peer: the stream, or the TCP socket beneath it. */
  readonly flow: FlowControl;
  readonly remote: Endpoint;
  /** Told of every chunk the relay reads, when the runtime wants to know. */
  readonly watch: ChunkWatch | undefined;
  onDrain: (() => void) | null = null;
  /** Starts and stops the bytes beneath a TLS stream around each read, where that is needed. */
  readonly #reading: FlowControl | undefined;
  /** How {@link capRecords} keeps TLS records small on this runtime's `node:tls`. */
  readonly #records: RecordCap;
  #write: (chunk: Uint8Array) => boolean;
  #peakQueued = 0;
  #failure: Error | null = null;

  constructor(
    stream: Duplex,
    remote: Endpoint,
    watch: ChunkWatch | undefined,
    flow: FlowControl = stream,
    reading?: FlowControl,
    records: RecordCap = fragmentRecords,
  ) {
    this.stream = stream;
    this.flow = flow;
    this.remote = remote;
    this.watch = watch;
    this.#reading = reading;
    this.#records = records;
    this.#write = (chunk) => stream.write(chunk);
    // A permanent listener: an 'error' with no listener would crash the process.
    stream.on("error", (error: Error) => {
      this.#failure ??= error;
    });
  }

  // --- the push face, for the relay ---

  attach(sink: ConnSink): void {
    const stream = this.stream;
    const watch = this.watch;
    const data = sink.data;
    stream.on(
      "data",
      watch === undefined ? data : (chunk: Uint8Array) => {
        watch(chunk.length);
        data(chunk);
      },
    );
    stream.on("end", sink.end);
    stream.on("error", sink.error);
    stream.on("close", sink.close);
    stream.on("drain", () => this.onDrain?.());
    // Ended or failed while the session was still setting up, before these listeners.
    const failure = this.#failure ?? stream.errored;
    if (failure) sink.error(failure);
    else if (stream.readableEnded || stream.destroyed) sink.end();
    if (stream.closed) sink.close();
    stream.resume();
    this.flow.resume();
  }

  send(bytes: Uint8Array): boolean {
    if (this.#write(bytes)) return true;
    const queued = this.stream.writableLength;
    if (queued > this.#peakQueued) this.#peakQueued = queued;
    return queued < RELAY_IN_FLIGHT;
  }

  hold(): void {
    this.flow.pause();
  }

  release(): void {
    this.flow.resume();
  }

  get buffered(): number {
    return this.stream.readableLength + this.stream.writableLength;
  }

  get peakQueued(): number {
    return this.#peakQueued;
  }

  capRecords(): void {
    this.#write = cappedWriter(this.stream, this.#records);
  }

  // --- the pull face, for negotiation ---

  read(): Promise<Uint8Array | null> {
    const stream = this.stream;
    const chunk: Uint8Array | null = stream.read();
    if (chunk !== null) return Promise.resolve(chunk);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (stream.readableEnded || stream.destroyed) return Promise.resolve(null);
    this.#reading?.resume();
    return new Promise((resolve, reject) => {
      const retry = () => {
        stream.off("readable", retry);
        stream.off("end", retry);
        stream.off("close", retry);
        stream.off("error", retry);
        this.#reading?.pause();
        this.read().then(resolve, reject);
      };
      stream.on("readable", retry);
      stream.on("end", retry);
      stream.on("close", retry);
      stream.on("error", retry);
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    const stream = this.stream;
    if (stream.destroyed || !stream.writable) {
      return Promise.reject(this.#failure ?? new Error("connection is closed"));
    }
    if (stream.write(bytes)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const settle = () => {
        stream.off("drain", settle);
        stream.off("close", settle);
        if (stream.destroyed) reject(this.#failure ?? new Error("connection is closed"));
        else resolve();
      };
      stream.on("drain", settle);
      stream.on("close", settle);
    });
  }

  closeWrite(): Promise<void> {
    const stream = this.stream;
    if (stream.destroyed || stream.writableFinished) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        stream.off("finish", done);
        stream.off("close", done);
        resolve();
      };
      stream.on("finish", done);
      stream.on("close", done);
      stream.end();
    });
  }

  close(): void {
    this.stream.destroy();
  }
}

class NodeTcpConn extends NodeConn implements TcpConn {
  readonly kind = "tcp" as const;
  declare readonly stream: net.Socket;
}

class NodeTlsConn extends NodeConn implements TlsConn {
  readonly kind = "tls" as const;
  readonly tls: TlsSessionInfo;
  declare readonly stream: tls.TLSSocket;

  /**
   * The TLS socket made over `tcp` on `footing`; nobody reads until the
   * session asks for its first bytes.
   */
  constructor(
    stream: tls.TLSSocket,
    tcp: NodeTcpConn,
    footing: TlsFooting,
    serverName: string | null,
    records: RecordCap,
    certificate?: number,
  ) {
    super(stream, tcp.remote, tcp.watch, footing.flow, footing.reading, records);
    footing.reading?.pause();
    this.tls = tlsSessionInfo(stream, stream.getProtocol(), serverName, certificate);
  }

  peerCertificate(): PeerCertificate | null {
    return describePeerCertificate(this.stream.getPeerCertificate());
  }

  peerCertificateDer(): Uint8Array | null {
    return certificateDer(this.stream.getPeerCertificate());
  }
}

function endpointOf(socket: net.Socket): Endpoint {
  return { host: socket.remoteAddress ?? "unknown", port: socket.remotePort ?? 0 };
}

function applySocketOptions(socket: net.Socket, options: SocketOptions): void {
  socket.setNoDelay(true);
  if (options.keepAliveMs > 0) socket.setKeepAlive(true, options.keepAliveMs);
}

/**
 * Binds a `node:net` server that hands out paused sockets; `watch` hears the
 * size of every chunk their relay reads.
 */
export function listenNode(
  address: Endpoint,
  options: ListenOptions,
  onConnection: (conn: TcpConn) => void,
  watch?: ChunkWatch,
): Promise<Listener> {
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    applySocketOptions(socket, options);
    onConnection(new NodeTcpConn(socket, endpointOf(socket), watch));
  });
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => reject(systemListenError(error, address.port));
    server.once("error", failed);
    // `reusePort` is missing from @types/node 20; `exclusive` keeps a node:cluster
    // worker from asking the primary for a shared handle.
    const shared = options.reusePort ? { reusePort: true, exclusive: true } : {};
    const listenOptions: net.ListenOptions = { host: address.host, port: address.port, ...shared };
    server.listen(listenOptions, () => {
      server.off("error", failed);
      // Accept errors (EMFILE, ECONNABORTED) must not crash the process; the caller hears of them.
      server.on("error", (error: Error) => options.onAcceptError?.(error));
      const bound = server.address() as net.AddressInfo;
      resolve({
        address: { host: bound.address, port: bound.port },
        // server.close() stops accepting at once; its callback would wait for
        // every accepted connection to end, which is the caller's business.
        close: () => {
          server.close();
          return Promise.resolve();
        },
      });
    });
  });
}

/**
 * Opens a `node:net` connection with a timeout; `watch` hears the size of
 * every chunk its relay reads.
 */
export function connectNode(
  address: Endpoint,
  options: SocketOptions & { readonly timeoutMs: number },
  watch?: ChunkWatch,
): Promise<TcpConn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(ConnectError.timeout(options.timeoutMs));
    }, options.timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", fail);
      applySocketOptions(socket, options);
      resolve(new NodeTcpConn(socket, address, watch));
    });
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(systemConnectError(error));
    };
    socket.once("error", fail);
  });
}

/**
 * A JavaScript stream over a TCP socket, optionally replaying bytes already
 * read from it (a direct-TLS ClientHello): see `prefix_replay.ts`. `node:tls`
 * reads through it; `brake` is told when the stream's buffer is full (and
 * when it has room again), and by default pauses the socket.
 */
export function transportStream(
  socket: net.Socket,
  prefix: Uint8Array | undefined,
  brake: (full: boolean) => void = (full) => full ? socket.pause() : socket.resume(),
): {
  transport: Duplex;
  guard: (socket: tls.TLSSocket) => void;
} {
  const { stream, guard } = prefixReplay({
    // The socket's errors are its NodeConn's; its close ends the stream.
    attach: (sink) => {
      socket.on("data", sink.data);
      socket.on("end", () => sink.data(null));
      socket.on("close", sink.close);
    },
    hold: () => brake(true),
    release: () => brake(false),
    write: (chunk, done) => socket.write(chunk, done),
    end: (done) => {
      socket.end();
      done();
    },
    destroy: () => socket.destroy(),
  }, prefix);
  return { transport: stream, guard };
}

/**
 * The server name a client asked for (SNI), read after the handshake. Not
 * through an SNICallback: on Deno 2.9 the callback switches the socket to a
 * ClientHello acceptor that keeps ~28 KiB of every connection after it has
 * closed.
 */
export function clientServerName(socket: tls.TLSSocket): string | null {
  return (socket as { servername?: string | false | null }).servername || null;
}

/**
 * Server-side TLS with secure contexts per listener made as `library` says
 * (OpenSSL's by default: a new context every ticket-key period, see
 * `ticket_keys.ts`). The client's certificate is checked after the
 * handshake, by `library`'s check (OpenSSL's verdict by default).
 */
export function serverTlsNode(
  options: ServerTlsOptions,
  layer: TlsLayer = nativeTlsLayer,
  library: ServerTlsLibrary = openSslServer,
): ServerTlsUpgrader {
  const contextsOf = (certificate: ServerCertificate): { current(): tls.SecureContext } =>
    library.contexts({ ...options, ...certificate });
  // With several certificates, each has its own contexts, and the server
  // name in the ClientHello picks one before the TLS socket is made (see
  // clientServerName for why not an SNICallback). OpenSSL would also resume
  // a session made under the context the socket started with after its
  // SNICallback switched to another: a session made under one certificate
  // is offered to another's context, whose ticket keys do not open it.
  const byName = options.certificates && new CertificatesByName(options.certificates, contextsOf);
  if (byName === undefined) assertKeyFitsCertificate(options.certPem, options.keyPem);
  const contexts = byName?.default ?? contextsOf(options);
  const requestCert = options.clientCaPem !== undefined;
  const certificateCheck = options.clientCaPem === undefined
    ? null
    : library.clientCertificateCheck(options.clientCaPem);
  const alpn = [...options.alpnProtocols];
  return {
    async upgrade(conn: TcpConn, prefix?: Uint8Array): Promise<ServerUpgrade> {
      const raw = (conn as NodeTcpConn).stream;
      let secureContext = contexts.current();
      let certificate: number | undefined;
      if (byName !== undefined) {
        const hello = await readClientHelloName(prefix ?? EMPTY_BYTES, () => conn.read());
        // Closed meanwhile (handshake_timeout closes it): a TLS socket made on
        // it now would wait for ever, and its session with it.
        if (raw.destroyed) {
          throw new TlsHandshakeError("connection closed during the TLS handshake");
        }
        certificate = byName.indexFor(hello.serverName);
        secureContext = byName.at(certificate).current();
        // Read ahead of the TLS socket: replayed as the prefix, or put back
        // into the TCP socket, whose buffered bytes node:tls reads first.
        if (prefix !== undefined && prefix.length > 0) prefix = hello.bytes;
        else if (hello.bytes.length > 0) raw.unshift(hello.bytes);
      }
      const footing = layer(raw, prefix);
      // No SNICallback: see clientServerName.
      const socket = new tls.TLSSocket(footing.transport, {
        isServer: true,
        secureContext,
        requestCert,
        rejectUnauthorized: requestCert,
        ALPNProtocols: alpn,
      });
      // The server socket starts reading on the next tick, with the guarded onread.
      footing.guard?.(socket, false);
      let refusal;
      try {
        refusal = await serverHandshake(socket, certificateCheck, library.missingClientCertificate);
      } catch (error) {
        socket.destroy();
        raw.destroy();
        throw error;
      }
      if (refusal?.completed === false) {
        socket.destroy();
        raw.destroy();
        return { conn: null, refused: refusal.reason };
      }
      const secured = new NodeTlsConn(
        socket,
        conn as NodeTcpConn,
        footing,
        clientServerName(socket),
        library.records,
        certificate,
      );
      return refusal === null ? { conn: secured } : { conn: secured, refused: refusal.reason };
    },
  };
}

/** Client-side TLS towards a backend, verifying as `options.verify` says. */
export function clientTlsNode(
  options: ClientTlsOptions,
  layer: TlsLayer = nativeTlsLayer,
): ClientTlsUpgrader {
  if (options.certPem !== undefined && options.keyPem !== undefined) {
    assertKeyFitsCertificate(options.certPem, options.keyPem);
  }
  const secureContext = tls.createSecureContext({
    ca: options.caPem,
    cert: options.certPem,
    key: options.keyPem,
  });
  const alpn = [...options.alpnProtocols];
  return {
    async upgrade(conn: TcpConn, serverName: string): Promise<TlsConn> {
      const raw = (conn as NodeTcpConn).stream;
      const footing = layer(raw);
      const socket = tls.connect({
        socket: footing.transport,
        secureContext,
        // SNI may not carry an IP address (RFC 6066).
        servername: net.isIP(serverName) ? undefined : serverName,
        ALPNProtocols: alpn,
        rejectUnauthorized: options.verify !== "none",
        checkServerIdentity: (_host, certificate) =>
          options.verify === "full" ? tls.checkServerIdentity(serverName, certificate) : undefined,
      });
      footing.guard?.(socket, true);
      try {
        await handshake(socket, "secureConnect");
      } catch (error) {
        socket.destroy();
        raw.destroy();
        throw error;
      }
      return new NodeTlsConn(socket, conn as NodeTcpConn, footing, serverName, fragmentRecords);
    },
  };
}
