/**
 * The runtime adapter interface: everything pgtls needs from Deno, Bun or
 * Node.js to move bytes. The protocol core and the session logic see only
 * these types, never a runtime global.
 *
 * @module
 */

/** A host and port. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** A bidirectional byte stream: a TCP connection or a TLS session over one. */
export interface ByteConn {
  /** The peer's address. */
  readonly remote: Endpoint;
  /**
   * The next chunk the peer sent, or `null` once it has closed its side.
   * Used while negotiating; the data path uses {@link Runtime.relay}.
   */
  read(): Promise<Uint8Array | null>;
  /** Sends bytes; resolves once the runtime accepted them (backpressure). */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Half-closes: sends end of stream after pending writes, keeps reading.
   * Resolves once everything written has been handed to the network.
   */
  closeWrite(): Promise<void>;
  /** Closes both directions at once and releases the socket. Idempotent. */
  close(): void;
}

/** A plain TCP connection that can be upgraded to TLS in either role. */
export interface TcpConn extends ByteConn {
  readonly kind: "tcp";
}

/** Facts about an established TLS session. */
export interface TlsSessionInfo {
  /** Negotiated protocol version, e.g. `TLSv1.3`. */
  readonly protocol: string;
  /** Negotiated ALPN protocol, or `null` when none was agreed. */
  readonly alpnProtocol: string | null;
  /** SNI the client sent (server side), or `null`. */
  readonly serverName: string | null;
  /** Negotiated cipher suite name. */
  readonly cipher: string;
}

/** A TLS session over a {@link TcpConn}. */
export interface TlsConn extends ByteConn {
  readonly kind: "tls";
  /** What the handshake negotiated. */
  readonly tls: TlsSessionInfo;
}

/** Server-side TLS settings for the listener. PEM text throughout. */
export interface ServerTlsOptions {
  /** Certificate chain, leaf first. */
  readonly certPem: string;
  /** Private key of the leaf certificate. */
  readonly keyPem: string;
  /** When set, clients must present a certificate issued by one of these. */
  readonly clientCaPem?: string;
  /** Lowest TLS version accepted. @default "1.2" */
  readonly minVersion?: "1.2" | "1.3";
  /** ALPN protocols offered, in preference order. */
  readonly alpnProtocols: readonly string[];
}

/** How the backend's certificate is checked (libpq's verify-full, verify-ca, require). */
export type BackendVerifyMode = "full" | "ca" | "none";

/** Client-side TLS settings towards a backend. PEM text throughout. */
export interface ClientTlsOptions {
  /** Trusted CA certificates; the runtime's root store when absent. */
  readonly caPem?: string;
  /** Certificate and key to present to the backend. */
  readonly certPem?: string;
  readonly keyPem?: string;
  /** What is verified. */
  readonly verify: BackendVerifyMode;
  /** ALPN protocols offered. */
  readonly alpnProtocols: readonly string[];
}

/** Upgrades an accepted connection to server-side TLS. */
export interface ServerTlsUpgrader {
  /**
   * Runs the server handshake. `prefix` holds bytes already read from the
   * connection that belong to the handshake (direct TLS).
   */
  upgrade(conn: TcpConn, prefix?: Uint8Array): Promise<TlsConn>;
}

/** Upgrades a connected socket to client-side TLS. */
export interface ClientTlsUpgrader {
  /** Runs the client handshake, sending `serverName` as SNI and verifying against it. */
  upgrade(conn: TcpConn, serverName: string): Promise<TlsConn>;
}

/** Byte counts of a finished relay. */
export interface RelayCounters {
  /** Bytes sent from the client towards the backend. */
  clientToBackend: number;
  /** Bytes sent from the backend towards the client. */
  backendToClient: number;
  /**
   * Most bytes pgtls held at once for this session (queued for a slow peer,
   * or read ahead): what flow control keeps small.
   */
  peakBuffered: number;
}

/** Why a relay ended. */
export type RelayEnd =
  | "client_closed"
  | "backend_closed"
  | "client_error"
  | "backend_error"
  | "aborted";

/**
 * Watches the first bytes of a relayed session and may rewrite what the
 * backend sends. The relay consults it only while `active` is true, so once
 * authentication is over the data path pays one boolean check per chunk.
 */
export interface RelayTap {
  /** False once the tap wants no more bytes. */
  readonly active: boolean;
  /** Sees a chunk from the client (before it is forwarded unchanged). */
  fromClient(chunk: Uint8Array): void;
  /** Sees a chunk from the backend and returns the bytes to forward instead. */
  fromBackend(chunk: Uint8Array): Uint8Array;
}

/** Socket options applied to every connection. */
export interface SocketOptions {
  /** TCP keepalive idle time in milliseconds; 0 turns keepalive off. */
  readonly keepAliveMs: number;
}

/** A bound listening socket. */
export interface Listener {
  /** The address actually bound (port 0 resolved). */
  readonly address: Endpoint;
  /** Stops accepting at once; established connections are not touched. */
  close(): Promise<void>;
}

/** What a runtime adapter provides to the core. */
export interface Runtime {
  /** `deno`, `bun` or `node`. */
  readonly name: string;
  /** The runtime's version string. */
  readonly version: string;
  /** Binds `address` and calls `onConnection` for every accepted connection. */
  listen(
    address: Endpoint,
    options: SocketOptions,
    onConnection: (conn: TcpConn) => void,
  ): Promise<Listener>;
  /** Opens a TCP connection; rejects after `timeoutMs`. */
  connect(
    address: Endpoint,
    options: SocketOptions & { readonly timeoutMs: number },
  ): Promise<TcpConn>;
  /** Prepares server TLS once per listener (contexts are costly to build). */
  serverTls(options: ServerTlsOptions): ServerTlsUpgrader;
  /** Prepares client TLS once per backend. */
  clientTls(options: ClientTlsOptions): ClientTlsUpgrader;
  /**
   * Pipes bytes both ways until either side ends, then closes the other side
   * cleanly. Each runtime uses its fastest native path; counters are updated
   * as bytes move so that a live session can be observed.
   */
  relay(
    client: ByteConn,
    backend: ByteConn,
    counters: RelayCounters,
    signal: AbortSignal,
    tap?: RelayTap,
  ): Promise<RelayEnd>;
}

/** What the command line needs from the process, beyond sockets. */
export interface Host {
  /** Command-line arguments after the program (and script) name. */
  readonly args: readonly string[];
  /** Reads a whole file as UTF-8 text. */
  readTextFile(path: string): Promise<string>;
  /** Writes one line to standard error. */
  writeErrorLine(line: string): void;
  /** Writes text to standard output. */
  writeOut(text: string): void;
  /** Calls `handler` on each delivery of the signal; returns a function that stops it. */
  onSignal(signal: "SIGINT" | "SIGTERM" | "SIGHUP", handler: () => void): () => void;
  /** Ends the process. */
  exit(code: number): never;
}
