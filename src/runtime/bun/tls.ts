/**
 * TLS on Bun's native `socket.upgradeTLS`, both roles. Certificate checks
 * that Bun leaves to the caller (verify-ca ignores the host name; an IP
 * address gets no SNI, so Bun cannot check it) are made here after the
 * handshake, before the connection is handed out.
 *
 * A direct-TLS ClientHello that was already read to classify the connection
 * cannot be handed back to Bun's native TLS (Bun 1.4.5 has no way to unread
 * bytes into a socket), so that one case goes through `node:tls`; see
 * `tls_replay.ts`.
 *
 * @module
 */

import tls from "node:tls";
import net from "node:net";
import { assertKeyFitsCertificate } from "../node_tls_shared/key_pair.ts";
import type {
  ClientTlsOptions,
  ClientTlsUpgrader,
  ServerTlsOptions,
  ServerTlsUpgrader,
  ServerUpgrade,
  TcpConn,
  TlsConn,
} from "../../io/types.ts";
import { asError, errorCode, TlsHandshakeError } from "../../io/errors.ts";
import { tlsLibraryError } from "../node_tls_shared/tls_library_error.ts";
import { tlsSessionInfo } from "../node_tls_shared/session_info.ts";
import {
  type BunSocket,
  type BunSocketHandlers,
  type BunTlsOptions,
  FORWARDING_HANDLERS,
  type SocketEvents,
} from "./api.ts";
import { type BunTcpConn, BunTlsConn, NativeTransport } from "./conn.ts";
import { certificateDer, describePeerCertificate } from "../node_tls_shared/peer_certificate.ts";
import { concatAll, concatBytes, EMPTY_BYTES } from "../../protocol/bytes.ts";
import { replayServerTls } from "./tls_replay.ts";
import {
  NO_CLIENT_CERTIFICATE,
  ResumptionCheck,
  unverifiedClientCertificate,
} from "../node_tls_shared/client_certificate.ts";
import { checkedCipherList, tlsVersion } from "../node_tls_shared/server_context.ts";
import { PerTicketPeriod } from "../node_tls_shared/ticket_keys.ts";
import { CertificatesByName } from "../node_tls_shared/listener_certificates.ts";
import { constants } from "node:crypto";

/** TLS protocol numbers, as Bun takes `minVersion`. */
const TLS_1_2 = 0x0303;
const TLS_1_3 = 0x0304;

/** ALPN protocol names in wire format: each prefixed with its length. */
export function alpnWire(protocols: readonly string[]): Uint8Array {
  return concatAll(protocols.map((name) => {
    const bytes = new TextEncoder().encode(name);
    return concatBytes(Uint8Array.of(bytes.length), bytes);
  }));
}

/** Decides, once the handshake has run, whether it completed and the peer passed. */
type Verdict = (socket: BunSocket, success: boolean, error: Error | null) => Error | null;

/**
 * After a passing verdict, why the client's certificate is refused, or null:
 * the connection is then handed over open, with the reason (see `ServerUpgrade`).
 */
type CertificateCheck = (socket: BunSocket, error: Error | null) => Error | null;

interface HandshakeEvents extends SocketEvents {
  handshook(socket: BunSocket, success: boolean, error: Error | null): void;
}

const TLS_HANDLERS: BunSocketHandlers = {
  ...FORWARDING_HANDLERS,
  handshake: (socket, success, error) => {
    const events = socket.data as HandshakeEvents | undefined;
    events?.handshook?.(socket, success, error);
  },
};

/**
 * Upgrades `tcp` natively and waits for the handshake. Until it is over, a
 * watcher stands between the TLS socket and its connection, turning an early
 * error or close into a {@link TlsHandshakeError}. Resolves to the connection,
 * with why its client's certificate was refused when `certificateCheck` says so.
 */
function upgradeNative(
  tcp: BunTcpConn,
  options: BunTlsOptions,
  isServer: boolean,
  verdict: Verdict,
  serverName: (socket: BunSocket) => string | null,
  certificateCheck: CertificateCheck = () => null,
  handlers: BunSocketHandlers = TLS_HANDLERS,
  presented?: (serverName: string | null) => number,
): Promise<ServerUpgrade & { readonly conn: TlsConn }> {
  const raw = tcp.transport.socket!;
  const transport = new NativeTransport(null);
  const conn = new BunTlsConn(transport, tcp.remote, true);
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      conn.close();
      tcp.close();
      reject(tlsLibraryError(error));
    };
    const watcher: HandshakeEvents = {
      received: (chunk) => conn.received(chunk),
      drained: () => conn.drained(),
      ended: () => conn.ended(),
      failed: (error) => {
        conn.failed(error);
        fail(error);
      },
      closed: () => {
        conn.closed();
        fail(new Error("connection closed during the TLS handshake"));
      },
      handshook: (socket, success, authorizationError) => {
        if (settled) return;
        const refusal = verdict(socket, success, authorizationError);
        if (refusal !== null) return fail(refusal);
        settled = true;
        socket.data = conn;
        const name = serverName(socket);
        conn.tls = tlsSessionInfo(socket, socket.getTLSVersion(), name, presented?.(name));
        conn.peer = () => describePeerCertificate(socket.getPeerCertificate());
        conn.peerDer = () => certificateDer(socket.getPeerCertificate());
        // Nobody reads until the session asks.
        conn.handshakeDone();
        const refused = certificateCheck(socket, authorizationError);
        resolve(refused === null ? { conn } : { conn, refused: refused.message });
      },
    };
    tcp.detach();
    let secured: BunSocket;
    try {
      secured = raw.upgradeTLS({ tls: options, isServer, socket: handlers })[1];
    } catch (error) {
      return fail(asError(error));
    }
    secured.data = watcher;
    transport.socket = secured;
    // Closing the TCP connection (the session's handshake timeout) must close
    // what now owns the socket: ending the raw half of an upgrade does nothing.
    tcp.transport.socket = secured;
    secured.resume();
  });
}

/** A handshake that produced no cipher did not complete (as opposed to one whose peer is unverified). */
function completed(socket: BunSocket, success: boolean, error: Error | null): Error | null {
  if (socket.getCipher()?.name) return null;
  return error ?? new Error(success ? "TLS handshake produced no session" : "TLS handshake failed");
}

/** Server-side TLS on the native upgrade, with a `node:tls` replay for direct TLS. */
export function serverTlsBun(options: ServerTlsOptions): ServerTlsUpgrader {
  // With several certificates, Bun's native upgrade asks for the one to
  // present by SNI; the first is the upgrade's own (see BunSocketHandlers).
  // The context switched to carries the whole policy: with Bun 1.4.5 the
  // handshake took its cipher list (a bare one let a CBC suite through) and
  // its CA store (a bare one refused every client certificate); the version
  // and options stayed the upgrade's, and are set here too all the same.
  const byName = options.certificates &&
    new CertificatesByName(options.certificates, ({ certPem, keyPem }) => {
      const context = tls.createSecureContext({
        cert: certPem,
        key: keyPem,
        ca: options.clientCaPem,
        ciphers: checkedCipherList(options.ciphers, certPem, options.minVersion),
        minVersion: tlsVersion(options.minVersion),
        secureOptions: constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
      }) as { context?: unknown };
      return context.context;
    });
  if (byName === undefined) assertKeyFitsCertificate(options.certPem, options.keyPem);
  const handlers: BunSocketHandlers = byName === undefined ? TLS_HANDLERS : {
    ...TLS_HANDLERS,
    serverName: (_data, name) => {
      const index = byName.indexFor(name);
      return index === 0 ? undefined : byName.at(index);
    },
  };
  const requestCert = options.clientCaPem !== undefined;
  const resumptions = requestCert ? new ResumptionCheck(options.clientCaPem!, false) : undefined;
  const native: BunTlsOptions = {
    key: options.keyPem,
    cert: options.certPem,
    ca: options.clientCaPem,
    requestCert,
    rejectUnauthorized: false,
    ALPNProtocols: alpnWire(options.alpnProtocols),
    minVersion: options.minVersion === "1.3" ? TLS_1_3 : TLS_1_2,
    // Bun checks the list only when the first connection arrives; BoringSSL
    // never renegotiates, so there is nothing to turn off for that.
    ciphers: checkedCipherList(options.ciphers, options.certPem, options.minVersion),
    secureOptions: constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
  };
  const verdict: Verdict = (socket, success, error) => {
    const incomplete = completed(socket, success, error);
    if (incomplete !== null) return incomplete;
    // A client that aborts after the ServerHello (say it rejects pgtls's
    // certificate) leaves a TLS 1.3 cipher behind; Bun then says success
    // false, with the cause (ECONNRESET) as the error.
    if (!success) return error ?? new Error("TLS handshake failed");
    return null;
  };
  // Bun's own rejectUnauthorized closes without an alert or a word (libpq:
  // "SSL connection has been closed unexpectedly"), so the certificate is
  // checked here and the session tells the client why.
  const certificateCheck: CertificateCheck = (socket, error) => {
    if (!requestCert) return null;
    if (!socket.getPeerCertificate()?.subject) return new Error(NO_CLIENT_CERTIFICATE);
    // Admitted only with every sign of verification: Bun 1.4.5 says
    // authorized false for another CA's certificate, and gives the reason
    // both with the handshake and on the socket.
    const reason = error ?? socket.getAuthorizationError();
    if (!socket.authorized || reason !== null) {
      return unverifiedClientCertificate(reason ?? new Error("certificate not verified"));
    }
    // Bun shares one BoringSSL context, and so its sessions, among listeners
    // whose TLS settings are the same (CA file included): a resumption
    // carries the verdict of a full handshake under the same CA, but not a
    // look at the certificates' dates now.
    return resumptions!.refusal(socket, new Date());
  };
  const sni = (socket: BunSocket) => socket.getServername() || null;
  const replay = replayServerTls(options);
  // Bun makes one BoringSSL context for all upgrades whose options are the
  // same, and its ticket keys live 2 days (4 to decrypt): a passphrase that
  // names the period (unused, as the key is not encrypted) makes the
  // options, and so the context and its keys, new every ticket-key period.
  const natives = new PerTicketPeriod((period) => ({
    ...native,
    passphrase: `pgtls ticket keys ${period}`,
  }), { periodMs: options.ticketKeyPeriodMs });
  return {
    upgrade(conn: TcpConn, prefix?: Uint8Array): Promise<ServerUpgrade> {
      const tcp = conn as BunTcpConn;
      const early = concatAll([prefix ?? EMPTY_BYTES, ...tcp.takeQueued()]);
      if (early.length > 0) return replay(tcp, early);
      return upgradeNative(
        tcp,
        natives.current(),
        true,
        verdict,
        sni,
        certificateCheck,
        handlers,
        byName && ((name) => byName.indexFor(name)),
      );
    },
  };
}

/** Client-side TLS on the native upgrade, verifying as `options.verify` says. */
export function clientTlsBun(options: ClientTlsOptions): ClientTlsUpgrader {
  if (options.certPem !== undefined && options.keyPem !== undefined) {
    assertKeyFitsCertificate(options.certPem, options.keyPem);
  }
  const alpn = alpnWire(options.alpnProtocols);
  return {
    upgrade(conn: TcpConn, serverName: string): Promise<TlsConn> {
      const tcp = conn as BunTcpConn;
      if (tcp.takeQueued().length > 0) {
        tcp.close();
        return Promise.reject(
          new TlsHandshakeError("backend sent bytes before the TLS handshake"),
        );
      }
      // SNI may not carry an IP address (RFC 6066); Bun checks the name it is given.
      const sni = net.isIP(serverName) ? undefined : serverName;
      const native: BunTlsOptions = {
        ca: options.caPem,
        cert: options.certPem,
        key: options.keyPem,
        serverName: sni,
        ALPNProtocols: alpn,
        // Verification is decided below, per mode, once the handshake is done.
        rejectUnauthorized: false,
      };
      const verdict: Verdict = (socket, success, error) => {
        const incomplete = completed(socket, success, error);
        if (incomplete !== null || options.verify === "none") return incomplete;
        const hostMismatch = errorCode(error) === "ERR_TLS_CERT_ALTNAME_INVALID";
        if (!socket.authorized && !hostMismatch) {
          return error ?? socket.getAuthorizationError() ??
            new Error("backend certificate not trusted");
        }
        if (options.verify === "ca") return null;
        if (hostMismatch) return error;
        const certificate = socket.getPeerCertificate();
        if (certificate === null) return new Error("backend sent no certificate");
        return tls.checkServerIdentity(serverName, certificate as tls.PeerCertificate) ?? null;
      };
      return upgradeNative(tcp, native, false, verdict, () => serverName).then(({ conn }) => conn);
    },
  };
}
