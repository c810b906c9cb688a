/**
 * Sockets and TLS on `node:net` and `node:tls`. Node.js uses this directly;
 * Deno uses its server side too, because Deno has no native server-side
 * upgrade of an accepted socket, and `node:tls` can wrap one there as long as
 * the socket is not flowing when it is wrapped (so `read()` below never puts
 * a socket into flowing mode).
 *
 * Deno 2.9's `node:tls` loses the peer's end of stream when a TLS socket is
 * paused or read slowly, so on Deno flow control stops and starts reads on
 * the TCP handle beneath the TLS socket, which itself always flows (a small
 * JavaScript transport stream stands in between only to replay bytes already
 * read, or where the handle is out of reach). See {@link TlsLayering}.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import { assertKeyFitsCertificate } from "./key_pair.ts";
import { type NodeTlsLibrary, serverSecureContext } from "./server_context.ts";
import { clientCertificateRefusal, ResumptionCheck } from "./client_certificate.ts";
import { clientChainCheck } from "./client_chain_check.ts";
import { PerTicketPeriod, scrubTicketKeys } from "./ticket_keys.ts";
import { CertificatesByName, readClientHelloName } from "./listener_certificates.ts";
import { EMPTY_BYTES } from "../../protocol/bytes.ts";
import type {
  ByteConn,
  ClientTlsOptions,
  ClientTlsUpgrader,
  Endpoint,
  Listener,
  ListenOptions,
  PeerCertificate,
  RelayCounters,
  RelayEnd,
  RelayFarewell,
  RelayOutcome,
  RelayTap,
  Runtime,
  ServerCertificate,
  ServerTlsOptions,
  ServerTlsUpgrader,
  ServerUpgrade,
  ShutdownNotice,
  SocketOptions,
  TcpConn,
  TlsConn,
  TlsSessionInfo,
} from "../../io/types.ts";
import {
  asError,
  ConnectError,
  systemConnectError,
  systemListenError,
  TlsHandshakeError,
} from "../../io/errors.ts";
import { certificateDer, describePeerCertificate } from "./peer_certificate.ts";
import { RelayEnding } from "../../proxy/relay_ending.ts";
import { handshake, serverHandshake } from "./handshake.ts";
import { tlsSessionInfo } from "./session_info.ts";
import { prefixReplay } from "./prefix_replay.ts";
import { cappedWriter, type RecordCap } from "./client_records.ts";

/**
 * How TLS sockets sit on TCP sockets: `native` hands the TCP socket to
 * `node:tls` directly (Node.js, Bun); `gated` does too, and flow control
 * starts and stops reads on the TCP handle beneath (Deno); `transport` puts a
 * JavaScript stream in between so that flow control can pause the TCP socket
 * (Deno, when its TCP handle is not reachable).
 */
export type TlsLayering = "native" | "gated" | "transport";

/** The read switch of a `node:net` socket's native handle (Deno's `TCPWrap`). */
interface NativeReadHandle {
  readStart(): number;
  readStop(): number;
}

/** Stops and restarts reading from a peer. */
interface FlowControl {
  pause(): void;
  resume(): void;
}

/**
 * Reading from the TCP connection beneath a TLS socket is held back when the
 * transport's buffer is full, when the relay's writes are blocked, or when
 * nobody is reading at all (between packets while negotiating): Deno 2.9's
 * TLSSocket decrypts everything the TCP connection gives it, whatever its own
 * buffer holds, and loses the peer's end of stream when paused itself, so the
 * only brake that works is beneath it.
 */
class FlowGate {
  readonly #tcp: FlowControl;
  #transportFull = false;
  #relayBlocked = false;
  #idle = false;
  #paused: boolean | null = null;

  constructor(tcp: FlowControl) {
    this.#tcp = tcp;
  }

  setTransportFull(full: boolean): void {
    this.#transportFull = full;
    this.#apply();
  }

  /** The relay's view: pause and resume on behalf of the writes it makes. */
  readonly relay: FlowControl = {
    pause: () => {
      this.#relayBlocked = true;
      this.#apply();
    },
    resume: () => {
      this.#relayBlocked = false;
      this.#idle = false;
      this.#apply();
    },
  };

  /** The reader's view: flow only while a read is waiting for bytes. */
  readonly reader: FlowControl = {
    pause: () => {
      this.#idle = true;
      this.#apply();
    },
    resume: () => {
      this.#idle = false;
      this.#apply();
    },
  };

  #apply(): void {
    const paused = this.#transportFull || this.#relayBlocked || this.#idle;
    if (paused === this.#paused) return;
    this.#paused = paused;
    if (paused) this.#tcp.pause();
    else this.#tcp.resume();
  }
}

/** A {@link ByteConn} over a Node.js duplex stream. */
class NodeConn implements ByteConn {
  readonly stream: Duplex;
  /** What to pause to stop reading from the peer: the stream, or the TCP socket beneath it. */
  readonly flow: FlowControl;
  readonly remote: Endpoint;
  /** Starts and stops the bytes beneath a TLS stream around each read, where that is needed. */
  readonly #reading: FlowControl | undefined;
  #failure: Error | null = null;

  constructor(
    stream: Duplex,
    remote: Endpoint,
    flow: FlowControl = stream,
    reading?: FlowControl,
  ) {
    this.stream = stream;
    this.flow = flow;
    this.remote = remote;
    this.#reading = reading;
    // A permanent listener: an 'error' with no listener would crash the process.
    stream.on("error", (error: Error) => {
      this.#failure ??= error;
    });
  }

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

  constructor(
    stream: tls.TLSSocket,
    remote: Endpoint,
    serverName: string | null,
    flow: FlowControl,
    reading: FlowControl | undefined,
    certificate?: number,
  ) {
    super(stream, remote, flow, reading);
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

/** Binds a `node:net` server that hands out paused sockets. */
export function listenNode(
  address: Endpoint,
  options: ListenOptions,
  onConnection: (conn: TcpConn) => void,
): Promise<Listener> {
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    applySocketOptions(socket, options);
    onConnection(new NodeTcpConn(socket, endpointOf(socket)));
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

/** Opens a `node:net` connection with a timeout. */
export function connectNode(
  address: Endpoint,
  options: SocketOptions & { readonly timeoutMs: number },
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
      resolve(new NodeTcpConn(socket, address));
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
 * reads through it; the socket pauses whenever the stream's buffer is full
 * or the relay says so.
 */
export function transportStream(
  socket: net.Socket,
  prefix: Uint8Array | undefined,
): {
  transport: Duplex;
  flow: FlowControl;
  reading: FlowControl;
  guard: (socket: tls.TLSSocket) => void;
} {
  const gate = new FlowGate(socket);
  const { stream, guard } = prefixReplay({
    // The socket's errors are its NodeConn's; its close ends the stream.
    attach: (sink) => {
      socket.on("data", sink.data);
      socket.on("end", () => sink.data(null));
      socket.on("close", sink.close);
    },
    hold: () => gate.setTransportFull(true),
    release: () => gate.setTransportFull(false),
    write: (chunk, done) => socket.write(chunk, done),
    end: (done) => {
      socket.end();
      done();
    },
    destroy: () => socket.destroy(),
  }, prefix);
  return { transport: stream, flow: gate.relay, reading: gate.reader, guard };
}

/** The stream `node:tls` should wrap, and what flow control pauses. */
function tlsTransport(
  socket: net.Socket,
  layering: TlsLayering,
  prefix?: Uint8Array,
): {
  transport: Duplex;
  flow: FlowControl | undefined;
  reading: FlowControl | undefined;
  /**
   * To be called with the TLS socket made on `transport`: so that an error
   * Deno's TLS engine throws while reading fails that socket (see
   * {@link guardTlsReads}).
   */
  guard?: (socket: tls.TLSSocket, restartReading: boolean) => void;
} {
  if (layering === "transport" || (prefix && prefix.length > 0)) {
    return transportStream(socket, prefix);
  }
  if (layering === "gated") {
    const handle = (socket as unknown as { _handle?: Partial<NativeReadHandle> })._handle;
    if (typeof handle?.readStart !== "function" || typeof handle.readStop !== "function") {
      return transportStream(socket, prefix);
    }
    const tcp = handle as NativeReadHandle;
    const gate = new FlowGate({ pause: () => tcp.readStop(), resume: () => tcp.readStart() });
    return {
      transport: socket,
      flow: gate.relay,
      reading: gate.reader,
      guard: (tlsSocket, restartReading) => guardTlsReads(tcp, tlsSocket, restartReading),
    };
  }
  return { transport: socket, flow: undefined, reading: undefined };
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
 * Deno 2.9's `node:tls` feeds each read of the TCP handle to its TLS engine
 * from the handle's `onread`, and an engine error (a fatal alert from the
 * peer, say a backend refusing pgtls's client certificate) can be thrown from
 * there, where nothing catches it: the process exits. This turns that throw
 * into the TLS socket's error, which the session handles. A no-op where the
 * handle has no such callback.
 */
function guardTlsReads(
  handle: NativeReadHandle,
  socket: tls.TLSSocket,
  restartReading: boolean,
): void {
  type OnRead = (this: unknown, ...args: unknown[]) => unknown;
  const native = ((handle as { _nativeHandle?: object })._nativeHandle ?? handle) as {
    onread?: OnRead;
  };
  const onread = native.onread;
  if (typeof onread !== "function") return;
  native.onread = function (...args) {
    try {
      return onread.apply(this, args);
    } catch (error) {
      socket.destroy(asError(error));
    }
  };
  // Deno's handle keeps the onread it found when reading started (tls.connect
  // starts it at once): restart reading so that the guarded one is used.
  if (restartReading) {
    handle.readStop();
    handle.readStart();
  }
}

/**
 * Server-side TLS with one secure context per listener, on `library`'s
 * `node:tls` (a new context every ticket-key period, see `ticket_keys.ts`).
 * The client's certificate is checked after the handshake: by OpenSSL's
 * verdict on Node.js, by pgtls itself on Deno (see `client_chain_check.ts`).
 */
export function serverTlsNode(
  options: ServerTlsOptions,
  layering: TlsLayering = "native",
  library: NodeTlsLibrary = "openssl",
): ServerTlsUpgrader {
  const contextsOf = (certificate: ServerCertificate): { current(): tls.SecureContext } => {
    const settings = { ...options, ...certificate };
    // rustls keeps one ticket key per process and replaces it itself.
    if (library === "rustls") {
      const single = serverSecureContext(settings, library);
      return { current: () => single };
    }
    return new PerTicketPeriod(
      () => serverSecureContext(settings, library),
      { periodMs: options.ticketKeyPeriodMs },
      scrubTicketKeys,
    );
  };
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
    : library === "rustls"
    ? clientChainCheck(options.clientCaPem)
    : refusalWithResumptions(new ResumptionCheck(options.clientCaPem, true));
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
      const { transport, flow, reading, guard } = tlsTransport(raw, layering, prefix);
      // No SNICallback: see clientServerName.
      const socket = new tls.TLSSocket(transport, {
        isServer: true,
        secureContext,
        requestCert,
        rejectUnauthorized: requestCert,
        ALPNProtocols: alpn,
      });
      // The server socket starts reading on the next tick, with the guarded onread.
      guard?.(socket, false);
      let refusal;
      try {
        refusal = await serverHandshake(socket, certificateCheck);
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
      const serverName = clientServerName(socket);
      // Nobody reads until the session asks for its startup packet.
      reading?.pause();
      const secured = new NodeTlsConn(
        socket,
        conn.remote,
        serverName,
        flow ?? socket,
        reading,
        certificate,
      );
      return refusal === null ? { conn: secured } : { conn: secured, refused: refusal.reason };
    },
  };
}

/** {@link clientCertificateRefusal} with a listener's own resumption check. */
function refusalWithResumptions(resumptions: ResumptionCheck) {
  return (socket: tls.TLSSocket) => clientCertificateRefusal(socket, resumptions);
}

/** Client-side TLS towards a backend, verifying as `options.verify` says. */
export function clientTlsNode(
  options: ClientTlsOptions,
  layering: TlsLayering = "native",
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
      const { transport, flow, reading, guard } = tlsTransport(raw, layering);
      const socket = tls.connect({
        socket: transport,
        secureContext,
        // SNI may not carry an IP address (RFC 6066).
        servername: net.isIP(serverName) ? undefined : serverName,
        ALPNProtocols: alpn,
        rejectUnauthorized: options.verify !== "none",
        checkServerIdentity: (_host, certificate) =>
          options.verify === "full" ? tls.checkServerIdentity(serverName, certificate) : undefined,
      });
      guard?.(socket, true);
      try {
        await handshake(socket, "secureConnect");
      } catch (error) {
        socket.destroy();
        raw.destroy();
        throw error;
      }
      reading?.pause();
      return new NodeTlsConn(socket, conn.remote, serverName, flow ?? socket, reading);
    },
  };
}

/**
 * Bytes a relay direction may have in flight to its destination before it
 * stops reading from the source. A stream's own limit (16 KiB) is below one
 * chunk read (up to 64 KiB), so obeying it stopped and restarted the source
 * around every chunk of a bulk transfer.
 */
export const RELAY_IN_FLIGHT = 256 * 1024;

/**
 * Pipes two Node streams both ways with backpressure; see {@link Runtime.relay}.
 * `relayed`, when given, hears the size of every chunk read (for
 * `young_collection.ts`); `records` says how TLS records to the client are
 * kept to PostgreSQL's size (`client_records.ts`).
 */
export function relayNode(
  clientConn: ByteConn,
  backendConn: ByteConn,
  counters: RelayCounters,
  signal: AbortSignal,
  tap?: RelayTap,
  farewell?: RelayFarewell,
  notice?: ShutdownNotice,
  relayed?: (bytes: number) => void,
  records: RecordCap = "fragment",
): Promise<RelayOutcome> {
  const client = (clientConn as NodeConn).stream;
  const backend = (backendConn as NodeConn).stream;
  const clientFlow = (clientConn as NodeConn).flow;
  const backendFlow = (backendConn as NodeConn).flow;
  const writeClient = cappedWriter(client, records);
  return new Promise((resolve) => {
    let parting = false;
    const part = notice && {
      notice,
      sendLast: (last: Uint8Array) => {
        parting = true;
        // Nothing of the backend's may follow the client's last message.
        backend.destroy();
        client.end(last);
        clientFlow.resume();
      },
    };
    const ending = new RelayEnding(
      signal,
      () => {
        client.destroy();
        backend.destroy();
      },
      (end) => resolve({ end, error: ending.error }),
      part,
    );
    const finish = ending.finish;
    const ended = (end: RelayEnd, other: Duplex) =>
      ending.ended(end, (flushed) => {
        other.once("finish", flushed);
        other.end();
      });
    const closed = (end: RelayEnd) => ending.closed(end);
    const backendEnded = (end: "backend_closed" | "backend_error") => (error?: Error) =>
      ending.backendGone(end, error, {
        farewell,
        heard: counters.backendToClient > 0 || client.writableEnded,
        dropBackend: () => backend.destroy(),
        endClient: (flushed, last) => {
          client.once("finish", flushed);
          client.end(last);
        },
      });

    client.on("data", (chunk: Uint8Array) => {
      if (parting) return;
      relayed?.(chunk.length);
      if (tap?.active) tap.fromClient(chunk);
      counters.clientToBackend += chunk.length;
      ending.fromClient(chunk);
      if (!backend.write(chunk)) {
        counters.peakBuffered = Math.max(counters.peakBuffered, backend.writableLength);
        if (backend.writableLength >= RELAY_IN_FLIGHT) clientFlow.pause();
      }
    });
    backend.on("data", (data: Uint8Array) => {
      relayed?.(data.length);
      const chunk = tap?.active ? tap.fromBackend(data) : data;
      if (chunk.length === 0) return;
      counters.backendToClient += chunk.length;
      ending.toClient(chunk);
      if (!writeClient(chunk)) {
        counters.peakBuffered = Math.max(counters.peakBuffered, client.writableLength);
        if (client.writableLength >= RELAY_IN_FLIGHT) backendFlow.pause();
      }
    });
    backend.on("drain", () => clientFlow.resume());
    client.on("drain", () => backendFlow.resume());
    client.on("end", ended("client_closed", backend));
    backend.on("end", backendEnded("backend_closed"));
    client.on("error", ending.clientFailed);
    backend.on("error", backendEnded("backend_error"));
    client.on("close", closed("client_closed"));
    backend.on("close", closed("backend_closed"));
    if (!ending.start()) return;
    // Either side may have ended while the session was still setting up,
    // before these listeners existed.
    counters.peakBuffered = Math.max(
      counters.peakBuffered,
      client.readableLength + backend.readableLength,
    );
    if (client.destroyed || client.readableEnded) return finish("client_closed");
    if (backend.destroyed || backend.readableEnded) {
      const error = backend.errored ?? undefined;
      return backendEnded(error ? "backend_error" : "backend_closed")(error);
    }
    client.resume();
    backend.resume();
    clientFlow.resume();
    backendFlow.resume();
  });
}

/**
 * {@link relayNode} as a {@link Runtime.relay}, telling `relayed` (when
 * given) the size of every chunk read, capping the client's TLS records as
 * `records` says.
 */
export function relayNodeWith(
  relayed?: (bytes: number) => void,
  records: RecordCap = "fragment",
): Runtime["relay"] {
  if (relayed === undefined && records === "fragment") return relayNode;
  return (client, backend, counters, signal, tap, farewell, notice) =>
    relayNode(client, backend, counters, signal, tap, farewell, notice, relayed, records);
}
