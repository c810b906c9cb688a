/**
 * A {@link ByteConn} over a socket that pushes chunks and accepts writes
 * partially: Bun's native sockets, or (for replayed direct-TLS bytes) a
 * `node:tls` socket. Reading is paused unless a read is waiting or a relay is
 * attached, so an accepted socket is never read before the session asks and
 * a slow peer stops its source instead of filling memory.
 *
 * @module
 */

import { CLIENT_RECORD_LIMIT } from "../node_tls_shared/client_records.ts";
import type {
  ByteConn,
  ConnSink,
  Endpoint,
  PeerCertificate,
  TcpConn,
  TlsConn,
  TlsSessionInfo,
} from "../../io/types.ts";
import type { BunSocket, SocketEvents } from "./api.ts";

/** What a {@link BunConn} drives. */
export interface Transport {
  /** Bytes accepted now (maybe fewer than offered, 0 when full); negative once closed. */
  write(bytes: Uint8Array): number;
  pause(): void;
  resume(): void;
  /** Sends end of stream; reading goes on. */
  shutdown(): void;
  close(): void;
  /** Caps the plaintext of each TLS record it sends at `limit` bytes (nothing without TLS). */
  capRecords(limit: number): void;
}

/** A native Bun socket as a {@link Transport}; the socket may be bound after the transport exists. */
export class NativeTransport implements Transport {
  socket: BunSocket | null;

  constructor(socket: BunSocket | null) {
    this.socket = socket;
  }

  write(bytes: Uint8Array): number {
    return this.socket === null ? 0 : this.socket.write(bytes);
  }
  pause(): void {
    this.socket?.pause();
  }
  resume(): void {
    this.socket?.resume();
  }
  shutdown(): void {
    this.socket?.shutdown();
  }
  close(): void {
    this.socket?.end();
  }
  capRecords(limit: number): void {
    this.socket?.setMaxSendFragment(limit);
  }
}

const CLOSED = "connection is closed";

/**
 * A Bun connection, pulled from while negotiating ({@link read}) and pushed
 * from by the relay ({@link attach}): both faces of {@link ByteConn}.
 */
export class BunConn implements ByteConn, SocketEvents {
  readonly remote: Endpoint;
  readonly transport: Transport;
  onDrain: (() => void) | null = null;

  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #closed = false;
  #closeCalled = false;
  #failure: Error | null = null;
  #readWaiter: (() => void) | null = null;
  #sink: ConnSink | null = null;
  /** The relay's brake: the peer's writes are blocked. */
  #held = false;
  /** A TLS handshake needs bytes whether or not anyone reads. */
  #handshaking = false;
  /** The TLS socket over this one owns the bytes now. */
  #detached = false;
  #flowing = true;

  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #peakQueued = 0;
  #drainWaiters: Array<(error: Error | null) => void> = [];

  constructor(transport: Transport, remote: Endpoint, handshaking = false) {
    this.transport = transport;
    this.remote = remote;
    this.#handshaking = handshaking;
    this.#apply();
  }

  get buffered(): number {
    return this.#queued + this.#pendingBytes;
  }

  get peakQueued(): number {
    return this.#peakQueued;
  }

  capRecords(): void {
    this.transport.capRecords(CLIENT_RECORD_LIMIT);
  }

  // --- events from the transport ---

  received(chunk: Uint8Array): void {
    if (this.#detached) return;
    if (this.#sink !== null) return this.#sink.data(chunk);
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#wake();
  }

  ended(): void {
    if (this.#detached || this.#ended) return;
    this.#ended = true;
    this.#sink?.end();
    this.#wake();
  }

  failed(error: Error): void {
    if (this.#detached) return;
    this.#failure ??= error;
    this.#sink?.error(error);
    this.#wake();
  }

  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ended = true;
    this.#settleDrain(this.#failure ?? new Error(CLOSED));
    if (this.#detached) return;
    this.#sink?.close();
    this.#wake();
  }

  drained(): void {
    while (this.#pending.length > 0) {
      const head = this.#pending[0]!;
      const written = this.transport.write(head);
      if (written < 0) return;
      this.#pendingBytes -= written;
      if (written < head.length) {
        this.#pending[0] = head.subarray(written);
        return;
      }
      this.#pending.shift();
    }
    this.#settleDrain(null);
    this.onDrain?.();
  }

  // --- flow control, for the relay and the TLS upgraders ---

  attach(sink: ConnSink): void {
    this.#sink = sink;
    for (const chunk of this.takeQueued()) sink.data(chunk);
    if (this.#failure !== null) sink.error(this.#failure);
    if (this.#ended) sink.end();
    if (this.#closed) sink.close();
    this.#apply();
  }

  hold(): void {
    this.#held = true;
    this.#apply();
  }

  release(): void {
    this.#held = false;
    this.#apply();
  }

  handshakeDone(): void {
    this.#handshaking = false;
    this.#apply();
  }

  /** Gives up the socket to the TLS layer over it; returns bytes read ahead of it. */
  detach(): Uint8Array[] {
    this.#handshaking = true;
    this.#apply();
    this.#detached = true;
    return this.takeQueued();
  }

  /** Unread chunks, removed. */
  takeQueued(): Uint8Array[] {
    const queue = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    return queue;
  }

  /** False when `bytes` could not all go out at once: the rest is queued. */
  send(bytes: Uint8Array): boolean {
    if (this.#closed) return true;
    let rest = bytes;
    // Behind queued bytes nothing may be written, or the order would break.
    if (this.#pending.length === 0) {
      const written = this.transport.write(bytes);
      // A closed socket (negative): its close event ends whoever is writing.
      if (written < 0 || written === bytes.length) return true;
      rest = bytes.subarray(written);
    }
    this.#pending.push(rest);
    this.#pendingBytes += rest.length;
    const held = this.#queued + this.#pendingBytes;
    if (held > this.#peakQueued) this.#peakQueued = held;
    return false;
  }

  // --- ByteConn ---

  read(): Promise<Uint8Array | null> {
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.#queued -= chunk.length;
      return Promise.resolve(chunk);
    }
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#readWaiter = () => {
        this.#readWaiter = null;
        this.read().then(resolve, reject);
      };
      this.#apply();
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed || this.#closeCalled) {
      return Promise.reject(this.#failure ?? new Error(CLOSED));
    }
    if (this.send(bytes)) return Promise.resolve();
    return this.#whenDrained();
  }

  async closeWrite(): Promise<void> {
    if (this.#closed || this.#closeCalled) return;
    if (this.#pendingBytes > 0) {
      try {
        await this.#whenDrained();
      } catch {
        return;
      }
    }
    if (!this.#closed && !this.#closeCalled) this.transport.shutdown();
  }

  close(): void {
    if (this.#closeCalled) return;
    this.#closeCalled = true;
    this.#apply();
    this.transport.close();
    // Bun reports the close from its event loop; whoever waits learns now.
    this.closed();
  }

  #whenDrained(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#drainWaiters.push((error) => error === null ? resolve() : reject(error));
    });
  }

  #settleDrain(error: Error | null): void {
    const waiters = this.#drainWaiters;
    if (waiters.length === 0) return;
    this.#drainWaiters = [];
    for (const settle of waiters) settle(error);
  }

  #wake(): void {
    this.#readWaiter?.();
    this.#apply();
  }

  #apply(): void {
    if (this.#detached) return;
    const want = !this.#closeCalled && !this.#closed &&
      (this.#handshaking ||
        (!this.#held && (this.#readWaiter !== null || this.#sink !== null)));
    if (want === this.#flowing) return;
    this.#flowing = want;
    if (want) this.transport.resume();
    else this.transport.pause();
  }
}

export class BunTcpConn extends BunConn implements TcpConn {
  readonly kind = "tcp" as const;
  declare readonly transport: NativeTransport;
}

export class BunTlsConn extends BunConn implements TlsConn {
  readonly kind = "tls" as const;
  tls: TlsSessionInfo = { protocol: "unknown", alpnProtocol: null, serverName: null, cipher: "" };
  /** Set once the handshake is done, by whoever holds the TLS socket. */
  peer: () => PeerCertificate | null = () => null;
  /** Set with {@link peer}: the peer's certificate as DER. */
  peerDer: () => Uint8Array | null = () => null;

  peerCertificate(): PeerCertificate | null {
    return this.peer();
  }

  peerCertificateDer(): Uint8Array | null {
    return this.peerDer();
  }
}
