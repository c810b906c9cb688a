/**
 * The one fallback of the Bun adapter: server TLS whose first bytes were
 * already read. Direct TLS (PostgreSQL 17) is recognised by reading the
 * ClientHello's first bytes, and Bun 1.4.5's native `upgradeTLS` cannot be
 * given bytes back, so here `node:tls` runs the session over a small stream
 * that replays them and then carries the native socket's bytes. Only direct
 * TLS sessions take this path; everything else stays native.
 *
 * @module
 */

import tls from "node:tls";
import type { ServerCertificate, ServerTlsOptions, ServerUpgrade } from "../../io/types.ts";
import {
  CertificatesByName,
  readClientHelloName,
} from "../node_tls_shared/listener_certificates.ts";
import { serverHandshake } from "../node_tls_shared/handshake.ts";
import { clientServerName } from "../node_tls_shared/sockets.ts";
import { tlsSessionInfo } from "../node_tls_shared/session_info.ts";
import { prefixReplay, type ReplaySource } from "../node_tls_shared/prefix_replay.ts";
import { certificateDer, describePeerCertificate } from "../node_tls_shared/peer_certificate.ts";
import { serverSecureContext } from "../node_tls_shared/server_context.ts";
import {
  clientCertificateRefusal,
  ResumptionCheck,
} from "../node_tls_shared/client_certificate.ts";
import { PerTicketPeriod, scrubTicketKeys } from "../node_tls_shared/ticket_keys.ts";
import { type BunTcpConn, BunTlsConn, type Transport } from "./conn.ts";

/** A `node:tls` socket as a {@link Transport}: accepts nothing while its buffer is full. */
class NodeTlsTransport implements Transport {
  readonly #socket: tls.TLSSocket;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
  }

  write(bytes: Uint8Array): number {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return -1;
    if (socket.writableNeedDrain) return 0;
    socket.write(bytes);
    return bytes.length;
  }
  pause(): void {
    this.#socket.pause();
  }
  resume(): void {
    this.#socket.resume();
  }
  shutdown(): void {
    this.#socket.end();
  }
  close(): void {
    this.#socket.destroy();
  }
  capRecords(limit: number): void {
    this.#socket.setMaxSendFragment(limit);
  }
}

/**
 * The native connection as the source of a replay stream (`prefix_replay.ts`);
 * `peerEnded` hears the peer's end of stream, always after the call that
 * attached (a connection tells an end that already came at once, before the
 * caller has made what listens for it).
 */
function nativeSource(tcp: BunTcpConn, peerEnded: () => void): ReplaySource {
  return {
    attach: (sink) =>
      tcp.attach({
        data: sink.data,
        end: () => {
          sink.data(null);
          queueMicrotask(peerEnded);
        },
        error: sink.error,
        close: sink.close,
      }),
    hold: () => tcp.hold(),
    release: () => tcp.release(),
    write: (chunk, done) => {
      tcp.write(chunk).then(() => done(), done);
    },
    end: (done) => {
      tcp.closeWrite().then(done, done);
    },
    destroy: () => tcp.close(),
  };
}

/**
 * Builds the replaying upgrader; its secure context is made on first use,
 * and anew every ticket-key period (see `ticket_keys.ts`).
 */
export function replayServerTls(
  options: ServerTlsOptions,
): (tcp: BunTcpConn, prefix: Uint8Array) => Promise<ServerUpgrade> {
  const contextsOf = (certificate: ServerCertificate) =>
    new PerTicketPeriod(
      () => serverSecureContext({ ...options, ...certificate }),
      { periodMs: options.ticketKeyPeriodMs },
      scrubTicketKeys,
    );
  let contexts: CertificatesByName<PerTicketPeriod<tls.SecureContext>> | undefined;
  const requestCert = options.clientCaPem !== undefined;
  const resumptions = options.clientCaPem === undefined
    ? undefined
    : new ResumptionCheck(options.clientCaPem, false);
  return async (tcp, prefix) => {
    contexts ??= new CertificatesByName(
      options.certificates ?? [{ certPem: options.certPem, keyPem: options.keyPem }],
      contextsOf,
    );
    // Bun's node:tls over a stream calls no SNICallback: with several
    // certificates the ClientHello's server name picks one here.
    let certificate: number | undefined;
    if (options.certificates !== undefined) {
      const hello = await readClientHelloName(prefix, () => tcp.read());
      prefix = hello.bytes;
      certificate = contexts.indexFor(hello.serverName);
    }
    const context = contexts.at(certificate ?? 0).current();
    let handshaking = true;
    // Bun's TLSSocket says nothing when its stream ends mid-handshake, which
    // would hold the session (and its max_connections slot) until
    // handshake_timeout; fail the handshake as the other runtimes do.
    const peerEnded = () => {
      if (handshaking) socket.destroy(new Error("connection closed during the TLS handshake"));
    };
    const replay = prefixReplay(nativeSource(tcp, peerEnded), prefix);
    const socket: tls.TLSSocket = new tls.TLSSocket(replay.stream, {
      isServer: true,
      secureContext: context,
      requestCert,
      // Bun's node:tls would close on an unverified certificate without a
      // word; serverHandshake checks it and the session says why.
      rejectUnauthorized: false,
      ALPNProtocols: [...options.alpnProtocols],
    });
    replay.guard(socket);
    let refusal;
    try {
      refusal = await serverHandshake(
        socket,
        resumptions ? (secured) => clientCertificateRefusal(secured, resumptions) : null,
      );
    } catch (error) {
      socket.destroy();
      tcp.close();
      throw error;
    } finally {
      handshaking = false;
    }
    if (refusal?.completed === false) {
      socket.destroy();
      tcp.close();
      return { conn: null, refused: refusal.reason };
    }
    // Paused before the data listener goes on, so that nothing flows before the session reads.
    socket.pause();
    const conn = new BunTlsConn(new NodeTlsTransport(socket), tcp.remote);
    conn.tls = tlsSessionInfo(socket, socket.getProtocol(), clientServerName(socket), certificate);
    // The client's certificate, for the session's log line and client_cert_user.
    conn.peer = () => describePeerCertificate(socket.getPeerCertificate());
    conn.peerDer = () => certificateDer(socket.getPeerCertificate());
    socket.on("data", (chunk: Uint8Array) => conn.received(chunk));
    socket.on("end", () => conn.ended());
    socket.on("error", (error: Error) => conn.failed(error));
    socket.on("close", () => conn.closed());
    socket.on("drain", () => conn.drained());
    return refusal === null ? { conn } : { conn, refused: refusal.reason };
  };
}
