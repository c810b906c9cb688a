/**
 * The slice of Bun's native socket API (`Bun.listen`, `Bun.connect`,
 * `socket.upgradeTLS`) the Bun adapter uses, declared here because the code
 * must type-check under Deno, where Bun's own declarations are absent.
 * Shapes as observed on Bun 1.4.5.
 *
 * @module
 */

/** What a native socket reports to; pgtls keeps one per socket in `socket.data`. */
export interface SocketEvents {
  received(chunk: Uint8Array): void;
  ended(): void;
  drained(): void;
  failed(error: Error): void;
  closed(): void;
}

/** The peer certificate in the shape `node:tls` uses (for `checkServerIdentity`). */
export interface BunPeerCertificate {
  readonly subject?: Readonly<Record<string, string | string[] | undefined>>;
  readonly issuer?: Readonly<Record<string, string | string[] | undefined>>;
  readonly subjectaltname?: string;
  readonly valid_to?: string;
  /** The certificate's DER. */
  readonly raw?: Uint8Array;
}

/** A native Bun socket, plain or TLS. */
export interface BunSocket {
  data: SocketEvents | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly authorized: boolean;
  readonly alpnProtocol: string | false | null;
  /** Bytes accepted, possibly fewer than offered; Bun does not queue the rest. */
  write(bytes: Uint8Array): number;
  pause(): void;
  resume(): void;
  /** `shutdown()` half-closes (SHUT_WR); `shutdown(true)` would stop reading instead. */
  shutdown(): void;
  /** Closes both directions. */
  end(): void;
  setNoDelay(enabled: boolean): boolean;
  setKeepAlive(enabled: boolean, initialDelayMs: number): boolean;
  /** Caps the plaintext of each TLS record it sends; false on a socket without TLS. */
  setMaxSendFragment(size: number): boolean;
  getServername(): string | false | undefined;
  getTLSVersion(): string | null;
  getCipher(): { readonly name?: string } | null;
  getAuthorizationError(): Error | null;
  getPeerCertificate(): BunPeerCertificate | null;
  /** Whether the TLS session was resumed rather than negotiated in full. */
  isSessionReused(): boolean;
  upgradeTLS(options: BunUpgradeOptions): [BunSocket, BunSocket];
}

/** Per-listener (or per-connection) callbacks; Bun shares them between sockets. */
export interface BunSocketHandlers {
  open?(socket: BunSocket): void;
  data?(socket: BunSocket, chunk: Uint8Array): void;
  drain?(socket: BunSocket): void;
  end?(socket: BunSocket): void;
  close?(socket: BunSocket, error?: Error): void;
  error?(socket: BunSocket, error: Error): void;
  handshake?(socket: BunSocket, success: boolean, authorizationError: Error | null): void;
  /**
   * Server side, Bun 1.4.5 (what its own `node:tls` uses for SNICallback,
   * undocumented): called with the client's SNI during the handshake; a
   * native secure context returned (`tls.createSecureContext(…).context`)
   * presents its certificate instead, undefined keeps the upgrade's own.
   */
  serverName?(data: unknown, serverName: string, handle: unknown): unknown;
}

/** TLS settings as Bun takes them. */
export interface BunTlsOptions {
  key?: string;
  cert?: string;
  ca?: string;
  /** Wire format (length-prefixed names); Bun 1.4.5 rejects an array. */
  ALPNProtocols?: Uint8Array;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  serverName?: string;
  /** A TLS protocol number (0x0303 for 1.2, 0x0304 for 1.3); Bun rejects "TLSv1.2". */
  minVersion?: number;
  /** TLS 1.2 cipher suites, OpenSSL's cipher-list syntax (BoringSSL's subset). */
  ciphers?: string;
  /** `SSL_OP_*` bits. */
  secureOptions?: number;
  /** For an encrypted key; part of what makes a context distinct. */
  passphrase?: string;
}

export interface BunUpgradeOptions {
  tls: BunTlsOptions;
  isServer?: boolean;
  socket: BunSocketHandlers;
}

export interface BunListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

export interface BunApi {
  readonly version: string;
  listen(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    reusePort: boolean;
    socket: BunSocketHandlers;
  }): BunListener;
  connect(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    socket: BunSocketHandlers;
  }): Promise<BunSocket>;
}

/** The `Bun` global; only call this when running on Bun. */
export function bunApi(): BunApi {
  return (globalThis as unknown as { readonly Bun: BunApi }).Bun;
}

/**
 * Handlers that forward every native event to the socket's {@link SocketEvents}.
 * One object serves every socket, as Bun intends.
 */
export const FORWARDING_HANDLERS: BunSocketHandlers = {
  data: (socket, chunk) => socket.data?.received(chunk),
  drain: (socket) => socket.data?.drained(),
  end: (socket) => socket.data?.ended(),
  error: (socket, error) => socket.data?.failed(error),
  close: (socket, error) => {
    if (error) socket.data?.failed(error);
    socket.data?.closed();
  },
};
