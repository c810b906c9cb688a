/**
 * The port: everything the core needs from Deno, Bun or Node.js, as types
 * the core owns (connections, listeners, TLS upgraders and what a session
 * learns of its TLS, the runtime and host faces, workers). The adapters in
 * `src/runtime/` implement them; nothing here imports a runtime, and the
 * core sees no runtime global.
 *
 * @module
 */

/**
 * One metric's header and sample lines as plain data: what a worker process
 * sends its supervisor, which serves every worker's under one header per
 * metric (`src/observe/metrics.ts` makes and merges them).
 */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly samples: readonly string[];
}

/** Where a relayed session stands (`src/proxy/session_flow.ts`). */
export type SessionState = "startup" | "idle" | "transaction" | "active" | "copy";

/** One session in a report; bytes as in the `session closed` line. */
export interface SessionView {
  readonly id: number;
  /** The worker that runs it (1 to N), with `workers` > 1. */
  readonly worker?: number;
  readonly proxy: string;
  readonly client: string;
  readonly sni: string | null;
  readonly user: string | null;
  readonly database: string | null;
  readonly backend: string | null;
  readonly tls_version: string | null;
  readonly tls_cipher: string | null;
  /** Client to backend. */
  readonly bytes_in: number;
  /** Backend to client. */
  readonly bytes_out: number;
  readonly age_seconds: number;
  readonly state: SessionState;
}

/** What `GET /sessions` answers. */
export interface SessionsReport {
  /** Every open session, listed or not. */
  readonly total: number;
  /** How many of all open sessions are in each state. */
  readonly states: Readonly<Record<SessionState, number>>;
  /** True when `sessions` lists fewer than `total`: the oldest are listed. */
  readonly truncated: boolean;
  /** The oldest sessions first, at most `SESSIONS_LISTED` (`src/proxy/live_sessions.ts`). */
  readonly sessions: readonly SessionView[];
}

/** A host and port. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * Where a connection in push mode delivers what its peer does (see
 * {@link PushConn.attach}). Its functions are called on their own, not as
 * methods. An end, error or close may be told twice (one that had happened
 * before the sink was attached, told at once, and its event after); the
 * relay acts on the first.
 */
export interface ConnSink {
  /** A chunk the peer sent. */
  data(chunk: Uint8Array): void;
  /** The peer sent end of stream. */
  end(): void;
  /** The connection failed. */
  error(error: Error): void;
  /** The socket is closed. */
  close(): void;
}

/**
 * The push-mode face of a connection: what the relay (`src/proxy/relay.ts`)
 * drives, on every runtime. Once attached, chunks arrive as the runtime
 * reads them, with no promise per chunk; writes are queued and say whether
 * there is room, and the relay holds the source until the destination
 * drains.
 */
export interface PushConn {
  /**
   * Hands every chunk (those read ahead first) and every event to `sink`
   * from now on, and starts reading. Events that already happened (an end,
   * a failure, the close) are told at once.
   */
  attach(sink: ConnSink): void;
  /**
   * Queues `bytes` for the peer (nothing once the socket is closed); false
   * when the caller should hold its source until {@link onDrain}.
   */
  send(bytes: Uint8Array): boolean;
  /** Called, once attached, whenever what {@link send} queued has gone out. */
  onDrain: (() => void) | null;
  /** Stops reading from the peer (the relay's brake while the other side is full). */
  hold(): void;
  /** Reads again after {@link hold}. */
  release(): void;
  /** Bytes held for this connection now: read ahead of a sink, or waiting to be written. */
  readonly buffered: number;
  /**
   * The most bytes {@link send} has had queued at once for a peer that was
   * not keeping up (what flow control keeps small; `peak_buffered` in the log).
   */
  readonly peakQueued: number;
  /**
   * Keeps every TLS record this connection sends within PostgreSQL's 8 KiB
   * (the client side of a relay: `node_tls_shared/client_records.ts`); a
   * no-op on plain TCP.
   */
  capRecords(): void;
  /**
   * Half-closes: sends end of stream after pending writes, keeps reading.
   * Resolves once everything written has been handed to the network.
   */
  closeWrite(): Promise<void>;
  /** Closes both directions at once and releases the socket. Idempotent. */
  close(): void;
}

/** A bidirectional byte stream: a TCP connection or a TLS session over one. */
export interface ByteConn extends PushConn {
  /** The peer's address. */
  readonly remote: Endpoint;
  /**
   * The next chunk the peer sent, or `null` once it has closed its side.
   * Used while negotiating; the data path attaches a sink instead ({@link PushConn}).
   */
  read(): Promise<Uint8Array | null>;
  /** Sends bytes; resolves once the runtime accepted them (backpressure). */
  write(bytes: Uint8Array): Promise<void>;
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
  /**
   * Server side: which of {@link ServerTlsOptions.certificates} was
   * presented, by index; absent with one certificate (or on the client side).
   */
  readonly certificate?: number;
}

/** The peer's leaf certificate, as `pgtls check --probe` reports it. */
export interface PeerCertificate {
  /** Distinguished name, e.g. `CN=db.internal, O=Example`. */
  readonly subject: string;
  /**
   * The subject's common name (its first CN, as PostgreSQL reads it for
   * `clientcert=verify-full`); absent when the subject has none.
   */
  readonly commonName?: string;
  readonly issuer: string;
  /** End of validity, or null when the runtime did not say. */
  readonly notAfter: Date | null;
}

/** A TLS session over a {@link TcpConn}. */
export interface TlsConn extends ByteConn {
  readonly kind: "tls";
  /** What the handshake negotiated. */
  readonly tls: TlsSessionInfo;
  /** The peer's certificate, or null when it sent none; computed on demand (costly on Deno). */
  peerCertificate(): PeerCertificate | null;
  /**
   * The DER of the peer's leaf certificate, or null when it sent none: what
   * SCRAM's tls-server-end-point channel binding hashes on the backend leg.
   */
  peerCertificateDer(): Uint8Array | null;
}

/** A certificate chain (leaf first) and the leaf's private key, as PEM text. */
export interface ServerCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Server-side TLS settings for the listener. PEM text throughout. */
export interface ServerTlsOptions {
  /** Certificate chain, leaf first: the default certificate. */
  readonly certPem: string;
  /** Private key of the leaf certificate. */
  readonly keyPem: string;
  /**
   * Every certificate the listener presents, the default first, when there
   * is more than one: the one whose names match the client's SNI is
   * presented (`src/tls/server_names.ts`).
   */
  readonly certificates?: readonly ServerCertificate[];
  /** When set, clients must present a certificate issued by one of these. */
  readonly clientCaPem?: string;
  /** Lowest TLS version accepted. @default "1.2" */
  readonly minVersion?: "1.2" | "1.3";
  /** ALPN protocols offered, in preference order. */
  readonly alpnProtocols: readonly string[];
  /**
   * TLS 1.2 cipher suites in OpenSSL's cipher-list syntax, the server's
   * preference first. A runtime whose TLS library has no such setting
   * ignores it (see {@link ServerTlsTraits.cipherList}).
   */
  readonly ciphers: string;
  /**
   * How long the listener's session-ticket keys encrypt new tickets, where
   * pgtls replaces them (not on Deno). @default TICKET_KEY_ROTATION_MS
   */
  readonly ticketKeyPeriodMs?: number;
}

/** What a runtime's server-side TLS honours, so that `check` can tell what it cannot. */
export interface ServerTlsTraits {
  /** The TLS library beneath, e.g. `rustls`. */
  readonly library: string;
  /** Whether {@link ServerTlsOptions.ciphers} takes effect. */
  readonly cipherList: boolean;
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

/**
 * What a server handshake came to: a TLS session, or a client certificate
 * that `listener.tls.client_ca_file` refuses (or none where it needs one).
 * A refused connection is handed over open when its handshake completed, so
 * that the session can tell the client why in a FATAL ErrorResponse rather
 * than a bare close; whoever gets it must close it without relaying a byte.
 * It is null where the TLS library itself ended the handshake with an alert
 * (Node.js and Deno refuse a client that sends no certificate so): then
 * there is no one to tell.
 */
export type ServerUpgrade =
  | { readonly conn: TlsConn; readonly refused?: undefined }
  | { readonly conn: TlsConn | null; readonly refused: string };

/** Upgrades an accepted connection to server-side TLS. */
export interface ServerTlsUpgrader {
  /**
   * Runs the server handshake. `prefix` holds bytes already read from the
   * connection that belong to the handshake (direct TLS). A handshake that
   * fails otherwise rejects with a `TlsHandshakeError` (`errors.ts`).
   */
  upgrade(conn: TcpConn, prefix?: Uint8Array): Promise<ServerUpgrade>;
}

/** Upgrades a connected socket to client-side TLS. */
export interface ClientTlsUpgrader {
  /**
   * Runs the client handshake, sending `serverName` as SNI and verifying
   * against it; rejects with a `TlsHandshakeError` (`errors.ts`).
   */
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

/** How a relay ended, and the connection error behind a `client_error` or `backend_error`. */
export interface RelayOutcome {
  readonly end: RelayEnd;
  readonly error?: Error;
}

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

/**
 * Called once when the backend ends or fails before the client got a single
 * byte from it; what it returns is sent to the client before the client is
 * ended, so that the client can learn why (a FATAL ErrorResponse). `error` is
 * the backend connection's own, when it failed rather than closed.
 */
export type RelayFarewell = (end: "backend_closed" | "backend_error", error?: Error) => Uint8Array;

/**
 * What the relay tells the client when shutdown cuts its session. It sees
 * every chunk relayed either way (and so knows where the session stands:
 * `session_flow.ts`); at the cut, `last` gives the bytes to
 * send before the client's end (a FATAL ErrorResponse), or null when the
 * client is in the middle of one of the backend's messages, where anything
 * added would corrupt the stream.
 */
export interface ShutdownNotice {
  /** How long the last message may take to reach a client before it is closed anyway. */
  readonly graceMs: number;
  /** Sees a chunk just forwarded to the client. */
  forwarded(chunk: Uint8Array): void;
  /** Sees a chunk from the client, before it is forwarded to the backend. */
  fromClient(chunk: Uint8Array): void;
  /** The bytes to send the client last, or null to close without a word. */
  last(): Uint8Array | null;
}

/** Socket options applied to every connection. */
export interface SocketOptions {
  /** TCP keepalive idle time in milliseconds; 0 turns keepalive off. */
  readonly keepAliveMs: number;
}

/** Settings of a listening socket. */
export interface ListenOptions extends SocketOptions {
  /**
   * Binds with SO_REUSEPORT and its own socket even in a node:cluster worker,
   * so that several processes each accept on the same port and the kernel
   * spreads connections among them. Asked for only where the runtime honours
   * it (see {@link WorkerLauncher.reusePort}).
   */
  readonly reusePort?: boolean;
  /**
   * Told of a connection the runtime could not accept (EMFILE, ENFILE), where
   * it says so: `node:net` on Node.js and Deno does; Bun's listener does not.
   */
  readonly onAcceptError?: (error: Error) => void;
}

/** A bound listening socket. */
export interface Listener {
  /** The address actually bound (port 0 resolved). */
  readonly address: Endpoint;
  /** Stops accepting at once; established connections are not touched. */
  close(): Promise<void>;
}

/** An HTTP request as the metrics endpoint sees it. */
export interface HttpRequest {
  readonly method: string;
  /** The path, query string removed. */
  readonly path: string;
}

/** A complete HTTP response with a text body. */
export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** What a runtime adapter provides to the core. */
export interface Runtime {
  /** `deno`, `bun` or `node`. */
  readonly name: string;
  /** The runtime's version string. */
  readonly version: string;
  /**
   * Binds `address` and calls `onConnection` for every accepted connection;
   * rejects with a `ListenError` (`errors.ts`).
   */
  listen(
    address: Endpoint,
    options: ListenOptions,
    onConnection: (conn: TcpConn) => void,
  ): Promise<Listener>;
  /** Opens a TCP connection; rejects with a `ConnectError` (`errors.ts`), after `timeoutMs` at the latest. */
  connect(
    address: Endpoint,
    options: SocketOptions & { readonly timeoutMs: number },
  ): Promise<TcpConn>;
  /** Prepares server TLS once per listener (contexts are costly to build). */
  serverTls(options: ServerTlsOptions): ServerTlsUpgrader;
  /** What {@link serverTls} honours. */
  readonly serverTlsTraits: ServerTlsTraits;
  /** Prepares client TLS once per backend. */
  clientTls(options: ClientTlsOptions): ClientTlsUpgrader;
  /**
   * The private key of an encrypted PEM key (PKCS#8 `ENCRYPTED PRIVATE KEY`
   * or OpenSSL's `Proc-Type: 4,ENCRYPTED`), as unencrypted PKCS#8 PEM, so
   * that every TLS context is built from it alike. Throws when `passphrase`
   * does not decrypt it.
   */
  decryptPrivateKey(keyPem: string, passphrase: string): string;
  /**
   * Serves plain HTTP on `address` (the metrics endpoint): every request is
   * answered with what `handler` returns. Closing stops the listener and
   * drops idle keep-alive connections so that shutdown is not held up.
   */
  serveHttp(
    address: Endpoint,
    handler: (request: HttpRequest) => HttpResponse | Promise<HttpResponse>,
  ): Promise<Listener>;
}

/** The signals pgtls acts on. */
export type HostSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

/** What a supervisor tells a worker process it starts. */
export interface WorkerInit {
  /** 1 to `count`. */
  readonly id: number;
  readonly count: number;
  /**
   * Each worker binds its own socket with SO_REUSEPORT. When false the
   * supervisor's runtime holds one listener and hands connections off.
   */
  readonly reusePort: boolean;
  /** Ports to bind, by proxy index: those the first worker got for port 0. */
  readonly ports?: readonly number[];
  /** The supervisor's ephemeral certificate, so that every worker presents the same. */
  readonly ephemeral?: { readonly certPem: string; readonly keyPem: string };
}

/** This process's side of being a worker. */
export interface WorkerRole extends WorkerInit {
  /** Tells the supervisor this worker listens, with its bound ports by proxy index. */
  ready(ports: readonly number[]): void;
  /**
   * Hands a CancelRequest whose key this worker does not hold to the other
   * workers, through the supervisor: the session may be one of theirs.
   * Resolves true once one of them forwarded it and its backend closed the
   * cancel connection, false if none holds the key.
   */
  shareCancel(proxy: number, request: Uint8Array): Promise<boolean>;
  /**
   * Answers CancelRequests other workers shared: true when a session of this
   * worker holds the key (it forwarded the cancel, or logged why it could not).
   */
  onSharedCancel(handler: (proxy: number, request: Uint8Array) => Promise<boolean>): void;
  /** Answers the supervisor's metrics scrapes with this worker's metric families. */
  onMetricsRequest(provide: () => Promise<readonly MetricFamily[]>): void;
  /** Answers the supervisor's `GET /sessions` with this worker's open sessions. */
  onSessionsRequest(provide: () => SessionsReport): void;
}

/** How a worker process ended. */
export interface WorkerExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** A worker process, seen from its supervisor. */
export interface WorkerProcess {
  readonly id: number;
  readonly pid: number;
  /** Resolves with the bound ports, by proxy index, once the worker listens. */
  readonly ready: Promise<readonly number[]>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<WorkerExit>;
  /** Passes on a signal the supervisor received; a no-op once the worker is gone. */
  signal(signal: HostSignal): void;
  /**
   * Answers the CancelRequests this worker shares (see {@link WorkerRole.shareCancel}):
   * true when another worker forwarded it.
   */
  onCancel(handler: (proxy: number, request: Uint8Array) => Promise<boolean>): void;
  /** Passes another worker's CancelRequest on to this one: true if it forwarded it. */
  passCancel(proxy: number, request: Uint8Array): Promise<boolean>;
  /** This worker's metric families, or null if it does not answer within `timeoutMs`. */
  metrics(timeoutMs: number): Promise<readonly MetricFamily[] | null>;
  /** This worker's open sessions, or null if it does not answer within `timeoutMs`. */
  sessions(timeoutMs: number): Promise<SessionsReport | null>;
}

/** Starts worker processes: pgtls again, with the same command line. */
export interface WorkerLauncher {
  /** Whether workers bind the port each with SO_REUSEPORT (see {@link WorkerInit.reusePort}). */
  readonly reusePort: boolean;
  /** CPUs this process may use: what `workers: auto` stands for. */
  readonly cpus: number;
  /** Starts one worker; throws when the process cannot be started. */
  start(init: WorkerInit): WorkerProcess;
}

/** A process, as the host's process table shows it. */
export interface ProcessInfo {
  readonly pid: number;
  /** Its command line, words joined by spaces; empty when unreadable. */
  readonly command: string;
}

/** A file's POSIX permission bits and owner, as `stat` gives them. */
export interface FilePermissions {
  /** The permission bits (`0o600`). */
  readonly mode: number;
  /** The owner's user id. */
  readonly uid: number;
}

/** This process's descriptors: its open-file limit and how many are open. */
export interface OpenFiles {
  readonly limit: number;
  readonly open: number;
}

/**
 * A host that has /proc but may not read this process's entries there (Deno
 * 2.9 without `--allow-all`): why, for the start-up warning.
 */
export interface OpenFilesUnreadable {
  readonly unreadable: string;
}

/**
 * What the kernel says of this process, for the `process_*` metrics (Linux's
 * /proc). A figure the host could not read is absent.
 */
export interface ProcessStats {
  /** User and system CPU time, in seconds. */
  readonly cpuSeconds?: number;
  /** Resident set size, in bytes. */
  readonly residentBytes?: number;
  /** Descriptors open now. */
  readonly openFds?: number;
  /** The open-file limit (the soft one); `Infinity` when unlimited. */
  readonly maxFds?: number;
}

/** What the command line needs from the process, beyond sockets. */
export interface Host {
  /** Command-line arguments after the program (and script) name. */
  readonly args: readonly string[];
  /**
   * Reads a whole file as UTF-8 text. With `regularOnly`, anything but a
   * regular file (a named pipe, a device) is refused rather than read: a
   * reload must not block on one.
   */
  readTextFile(path: string, options?: { readonly regularOnly?: boolean }): Promise<string>;
  /**
   * The permissions and owner of the file at `path` (a link followed), or
   * null where files have no POSIX permissions (Windows). Throws as reading
   * it would (no such file).
   */
  filePermissions(path: string): Promise<FilePermissions | null>;
  /**
   * An environment variable; undefined when unset, or when the process may not
   * read it (Deno without `--allow-env`, where asking would prompt or throw).
   */
  env(name: string): string | undefined;
  /** The working directory, absolute: where relative paths on the command line point. */
  cwd(): string;
  /**
   * The processes listening on TCP `port` that this process may see (Linux),
   * where they would take connections for `host` (any address when absent),
   * leaving out `exclude`; empty where the host cannot tell.
   */
  listeningProcesses(
    port: number,
    options?: { readonly host?: string; readonly exclude?: readonly number[] },
  ): Promise<readonly ProcessInfo[]>;
  /**
   * This process's open-file limit and open descriptors; why they could not
   * be read where /proc exists; null where there is no /proc.
   */
  openFiles(): OpenFiles | OpenFilesUnreadable | null;
  /**
   * This process's CPU time, memory and descriptors, read when asked (a
   * metrics scrape, never the data path); null where the host cannot tell
   * (anything but Linux).
   */
  processStats(): Promise<ProcessStats | null>;
  /** This process's id. */
  readonly pid: number;
  /** Writes one line to standard error. */
  writeErrorLine(line: string): void;
  /** Writes text to standard output. */
  writeOut(text: string): void;
  /** Calls `handler` on each delivery of the signal; returns a function that stops it. */
  onSignal(signal: HostSignal, handler: () => void): () => void;
  /** Ends the process. */
  exit(code: number): never;
  /**
   * Set when this process is a worker started by a supervising pgtls; its
   * {@link onSignal} then hears the signals the supervisor passes on.
   */
  readonly worker?: WorkerRole;
  /** Starts workers; absent where the host cannot, and in a worker. */
  readonly launcher?: WorkerLauncher;
}
