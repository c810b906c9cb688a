/**
 * Deno's read gate: how a `node:tls` socket sits on a TCP socket on Deno,
 * and how reading from it is stopped and started.
 *
 * Deno 2.9's `node:tls` ignores a pause of the TLS socket (its TLSSocket
 * decrypts everything the TCP connection gives it, whatever its own buffer
 * holds) and loses the peer's end of stream while paused or read slowly. So
 * here the TLS socket always flows, and flow control stops and starts reads
 * on the TCP handle beneath it (`readStop`/`readStart` on Deno's `TCPWrap`):
 * reading is held back while the relay's writes are blocked, and while
 * nobody reads at all (between packets while negotiating).
 *
 * Measured (docs/performance.md, "TLS straight on the TCP socket"): before
 * this, a JavaScript transport stream sat between TLS and TCP so that flow
 * control could pause the TCP socket; with it `js_stream_socket`, the Duplex
 * and its per-chunk callbacks were the JavaScript on the path. User CPU per
 * select-only transaction, quick A/Bs: transport stream 80 against 48 µs
 * with TLS straight on TCP and no flow control at all (idle machine), 87
 * against 70 µs with this gate (loaded machine); with the less frequent
 * forced collection of `memory.ts` it halved CPU per GB of COPY.
 *
 * The transport stream remains where it is needed: to replay bytes already
 * read (a direct-TLS ClientHello), or where the handle is out of reach; the
 * gate then also stops the TCP socket while the stream's buffer is full.
 *
 * @module
 */

import type net from "node:net";
import type tls from "node:tls";
import { type FlowControl, type TlsFooting, transportStream } from "../node_tls_shared/sockets.ts";
import { asError } from "../../io/errors.ts";

/** The read switch of a `node:net` socket's native handle (Deno's `TCPWrap`). */
interface NativeReadHandle {
  readStart(): number;
  readStop(): number;
}

/**
 * Reading from the TCP connection beneath a TLS socket is held back when the
 * transport stream's buffer is full, when the relay's writes are blocked, or
 * when nobody is reading at all.
 */
export class FlowGate {
  readonly #tcp: FlowControl;
  #transportFull = false;
  #relayBlocked = false;
  #idle = false;
  #paused: boolean | null = null;

  constructor(tcp: FlowControl) {
    this.#tcp = tcp;
  }

  /** The transport stream's view: its buffer is full, or has room again. */
  readonly setTransportFull = (full: boolean): void => {
    this.#transportFull = full;
    this.#apply();
  };

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

/**
 * Deno's footing for a TLS socket on `socket` (a `TlsLayer`): TLS straight
 * on the TCP socket with the gate on its handle, or, with bytes to replay or
 * no handle to reach, the transport stream with the gate on the socket.
 */
export function gatedTlsLayer(socket: net.Socket, prefix?: Uint8Array): TlsFooting {
  const handle = (socket as unknown as { _handle?: Partial<NativeReadHandle> })._handle;
  const reachable = typeof handle?.readStart === "function" &&
    typeof handle.readStop === "function";
  if (!reachable || (prefix !== undefined && prefix.length > 0)) {
    const gate = new FlowGate(socket);
    const replay = transportStream(socket, prefix, gate.setTransportFull);
    return {
      transport: replay.transport,
      flow: gate.relay,
      reading: gate.reader,
      guard: replay.guard,
    };
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
